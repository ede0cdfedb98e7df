"""The load generator: a process of its own that drives collectors on loopback with keep-alive
HTTP/1.1 connections, bounded in requests and in seconds.

    python bench/ingest/load.py JOB.json RESULT.json

It speaks HTTP/1.1 over asyncio streams itself, from requests built before the clock starts,
because a full client library would cost more CPU per request than the collector's bare
endpoint: on a 2-core machine the generator's own cost must stay small next to what it measures.
Every answer is read in full; for report batches each item's status is counted and the report
ids the collector acknowledged as accepted are written out, so the caller can check each one
is in the database.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    failures: int = 0


def build_requests(job: dict[str, Any]) -> list[bytes]:
    """Every request of the run, encoded, so the timed loop only writes and reads."""
    count, batch = job["max_requests"], job["batch"]
    host = urlsplit(job["urls"][0]).netloc
    if batch == 0:
        return [f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()] * count
    # One template per lesson: a device's k-th summary goes to lesson k (round-robin), as a
    # real device sends one summary per lesson, so no device reaches the collector's bound of
    # summaries per lesson however long the run.
    templates: list[str] = job["templates"]
    tokens: list[str] = job["tokens"]
    out = []
    for i in range(count):
        first = (i // len(tokens)) * batch
        items = ",".join(
            templates[(first + j) % len(templates)] % uuid.uuid4() for j in range(batch)
        )
        body = ('{"reports":[' + items + "]}").encode()
        out.append(post(host, "/api/v1/agent/reports", tokens[i % len(tokens)], body))
    return out


def post(netloc: str, path: str, token: str | None, body: bytes) -> bytes:
    """One JSON POST, encoded: with the device's bearer token when there is one."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer with a Content-Length: its status, headers (names lower-case), body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status, _, body = await read_answer(reader)
    return status, body


async def connection(
    url: str, queue: list[bytes], tally: Tally, deadline: float, timeout: float
) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        while queue and time.perf_counter() < deadline:
            request = queue.pop()
            began = time.perf_counter()
            try:
                writer.write(request)
                status, body = await asyncio.wait_for(read_response(reader), timeout)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                tally.failures += 1
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                continue
            tally.latencies.append(time.perf_counter() - began)
            tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
            if status == 200 and request.startswith(b"POST"):
                for result in json.loads(body)["results"]:
                    tally.items[result["status"]] = tally.items.get(result["status"], 0) + 1
                    if result["status"] == "accepted":
                        tally.accepted.append(result["report_id"])
    finally:
        writer.close()


async def run(job: dict[str, Any]) -> dict[str, Any]:
    requests = build_requests(job)
    tally = Tally()
    urls: list[str] = job["urls"]
    # Warm-up: the first requests of a process build caches and open database connections.
    # Its answers count for durability (what it stored must be there) but not for speed.
    warm, warm_tally = [requests.pop() for _ in range(min(job["warmup"], len(requests)))], Tally()
    await asyncio.gather(
        *(connection(urls[i % len(urls)], warm, warm_tally, float("inf"), 60) for i in range(4))
    )
    began = time.perf_counter()
    deadline = began + job["seconds"]
    await asyncio.gather(
        *(
            connection(urls[i % len(urls)], requests, tally, deadline, job["timeout"])
            for i in range(job["concurrency"])
        )
    )
    elapsed = time.perf_counter() - began
    return {
        "elapsed": elapsed,
        "requests": len(tally.latencies),
        "latencies": tally.latencies,
        "statuses": tally.statuses,
        "items": tally.items,
        "accepted": warm_tally.accepted + tally.accepted,
        "warmup_items": warm_tally.items,
        "failures": tally.failures + warm_tally.failures,
        "left_over": len(requests),
    }


def main(argv: list[str]) -> int:
    job_path, result_path = argv
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    result = asyncio.run(run(job))
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
