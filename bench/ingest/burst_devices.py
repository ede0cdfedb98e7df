"""One load-generator process of the bell-time burst (bench/ingest/burst.py): its own slice of
the simulated devices over its own keep-alive connections.

Each process speaks HTTP/1.1 over asyncio streams itself, with every upload encoded before the
bell, as bench/ingest/load.py does: with httpx one process driving 50,000 devices used a whole
core while the collectors used 7 % each (docs/performance.md), so it measured itself. A fixed
set of connections (workers) takes devices from one queue; at the bell a dispatcher puts each
device in the queue at its moment, so a device costs no task and no timer of its own. Failed
requests go back in the queue after the agent's own backoff (``agent.backoff``, the agent's
rule for which answers to retry), so a retry never holds a connection while it waits.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from agent import backoff
from bench.ingest.load import post, read_answer

MAX_TRIES = 12
TIMEOUT = 60.0
CONNECTION_ERRORS = (OSError, asyncio.IncompleteReadError, TimeoutError)

# What one try of a device's step asks for: None when the device is finished (done or refused
# for good), else the seconds to wait before trying again.
Step = Callable[["Connection", int, int], Awaitable[float | None]]


@dataclass
class Slice:
    """The devices one generator process drives, by position."""

    urls: list[str]  # the collectors; connection i goes to urls[i % len(urls)]
    connections: int
    codes: list[str]  # each device's enrolment code; empty when ``tokens`` are given
    tokens: list[str]  # each device's token, given or filled by enrolment
    summaries: list[str]  # each device's summary batch, JSON text
    moments: list[float]  # seconds after the bell at which each device uploads


@dataclass
class Tally:
    """What one generator process saw; CPU is its own, user plus system."""

    enrol_seconds: float = 0.0
    enrol_cpu: float = 0.0
    upload_cpu: float = 0.0
    upload_seconds: float = 0.0  # from the bell until the last answer
    upload_waited: float = 0.0  # runnable but waiting for a core, from the bell
    retries: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0
    latencies: list[float] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # report id -> status
    stored_at: list[float] = field(default_factory=list)  # seconds after the bell


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Connection:
    """One keep-alive HTTP/1.1 connection, opened again when the server has closed it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.netloc = parts.netloc
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        # A connection the server closed while idle (uvicorn's keep-alive timeout is 5 s) is
        # replaced before use, as an HTTP client's pool does, rather than failing a request.
        if self.streams is None or self.streams[0].at_eof():
            self.close()
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(request)
            return await asyncio.wait_for(read_answer(reader), TIMEOUT)
        except CONNECTION_ERRORS:
            self.close()
            raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def retry_wait(attempt: int, retry_after: str | None = None) -> float:
    """The agent's wait before its next try: capped exponential backoff with full jitter, or
    the server's Retry-After if longer."""
    wait = backoff.delay(attempt, random.random)
    after = backoff.retry_after(retry_after, datetime.now(UTC))
    return max(wait, after or 0.0)


def retried(status: int) -> bool:
    """The answers the agent tries again (agent.uploader.classify's "retry"), for any route:
    its classify takes every answer but 200 as a report batch's, so 201 would count as one."""
    return status in (408, 429) or status >= 500


async def attempt(
    conn: Connection, tally: Tally, request: bytes, tries: int
) -> tuple[int, bytes] | float:
    """One try of ``request``: the final answer, or the seconds to wait before the next try
    when the agent would retry (connection failure, 408, 429, 5xx)."""
    try:
        status, headers, body = await conn.exchange(request)
    except CONNECTION_ERRORS as exc:
        tally.retries[type(exc).__name__] += 1
        return retry_wait(tries)
    if retried(status):
        tally.retries[str(status)] += 1
        return retry_wait(tries, headers.get("retry-after"))
    return status, body


async def drive(
    urls: list[str],
    connections: int,
    count: int,
    step: Step,
    feed: Callable[[Callable[[int], None]], Coroutine[Any, Any, None]],
) -> int:
    """Run ``step`` for devices 0..count-1 over ``connections`` workers until every device is
    finished; ``feed(put)`` puts each device in the queue (all at once, or at its moment).
    Returns how many devices were given up after MAX_TRIES tries."""
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    left, gave_up = count, 0
    finished = asyncio.Event()
    if count == 0:
        finished.set()
    retrying: set[asyncio.Task[None]] = set()

    async def again(index: int, tries: int, wait: float) -> None:
        await asyncio.sleep(wait)
        queue.put_nowait((index, tries))

    async def worker(url: str) -> None:
        nonlocal left, gave_up
        conn = Connection(url)
        try:
            while True:
                index, tries = await queue.get()
                wait = await step(conn, index, tries)
                if wait is not None and tries + 1 < MAX_TRIES:
                    task = asyncio.create_task(again(index, tries + 1, wait))
                    retrying.add(task)
                    task.add_done_callback(retrying.discard)
                    continue
                gave_up += wait is not None
                left -= 1
                if left == 0:
                    finished.set()
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker(urls[i % len(urls)])) for i in range(connections)]
    tasks.append(asyncio.create_task(feed(lambda index: queue.put_nowait((index, 0)))))
    waiter = asyncio.create_task(finished.wait())
    # A worker that raised (an enrolment refused) ends the run at once instead of leaving the
    # others waiting for a device that will never finish.
    pending: set[asyncio.Task[Any]] = {waiter, *tasks}
    failure: BaseException | None = None
    while failure is None and not waiter.done():
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        failure = next((t.exception() for t in done if t.exception() is not None), None)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if failure is not None:
        raise failure
    return gave_up


async def enrol_all(devices: Slice, tally: Tally) -> None:
    """Each device enrols with its group's code and fetches its config, as an agent does."""
    host = urlsplit(devices.urls[0]).netloc

    async def step(conn: Connection, index: int, tries: int) -> float | None:
        if not devices.tokens[index]:
            body = json.dumps(
                {"code": devices.codes[index], "platform": "linux", "agent_version": "0.1.0"}
            ).encode()
            answer = await attempt(
                conn, tally, post(host, "/api/v1/agent/enroll", None, body), tries
            )
            if isinstance(answer, float):
                return answer
            if answer[0] != 201:
                raise RuntimeError(f"enrolment failed: {answer[0]} {answer[1][:300]!r}")
            devices.tokens[index] = json.loads(answer[1])["token"]
        request = (
            f"GET /api/v1/agent/config HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {devices.tokens[index]}\r\n\r\n"
        ).encode()
        answer = await attempt(conn, tally, request, tries)
        if isinstance(answer, float):
            return answer
        if answer[0] != 200:
            raise RuntimeError(f"config failed: {answer[0]} {answer[1][:300]!r}")
        return None

    async def all_at_once(put: Callable[[int], None]) -> None:
        for index in range(len(devices.tokens)):
            put(index)

    began, cpu = time.monotonic(), own_cpu()
    tally.gave_up += await drive(
        devices.urls, devices.connections, len(devices.tokens), step, all_at_once
    )
    tally.enrol_seconds, tally.enrol_cpu = time.monotonic() - began, own_cpu() - cpu


def upload_requests(devices: Slice) -> list[bytes]:
    """Every device's upload, encoded before the bell."""
    host = urlsplit(devices.urls[0]).netloc
    return [
        post(host, "/api/v1/agent/reports", token, summary.encode())
        for token, summary in zip(devices.tokens, devices.summaries, strict=True)
    ]


async def upload_all(devices: Slice, requests: list[bytes], bell: float, tally: Tally) -> None:
    """From the bell (a time.monotonic() value shared by every generator process), each device
    posts its summary at its moment; retried as the agent retries."""

    async def step(conn: Connection, index: int, tries: int) -> float | None:
        began = time.monotonic()
        answer = await attempt(conn, tally, requests[index], tries)
        if isinstance(answer, float):
            return answer
        status, body = answer
        now = time.monotonic()
        tally.latencies.append(now - began)
        if status != 200:
            tally.refused[str(status)] += 1
            return None
        for result in json.loads(body)["results"]:
            tally.acked[result["report_id"]] = result["status"]
        tally.stored_at.append(now - bell)
        return None

    async def at_moments(put: Callable[[int], None]) -> None:
        for index in sorted(range(len(requests)), key=devices.moments.__getitem__):
            wait = bell + devices.moments[index] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            put(index)

    tally.gave_up += await drive(devices.urls, devices.connections, len(requests), step, at_moments)
    tally.upload_seconds = time.monotonic() - bell
