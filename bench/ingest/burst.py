"""The bell-time burst: N simulated devices enrol, fetch their config, and at the end of the
lesson each posts its summary at a moment spread uniformly over the policy's upload spread.

    .venv/bin/python bench/ingest/burst.py [--devices 10000] [--spread 120]
        [--backends sqlite,postgres] [--workers 2] [--concurrency 256]

One process drives every device with asyncio and httpx (in the style of osquery-perf), against
real ``lessonwatch-service serve`` processes on loopback ports (round-robin, one per worker),
on a fresh database per backend. It prints how long enrolment and config took, how long after
the bell the last summary was stored, upload latency, retries, and whether nothing was lost: it
counts the rows and checks each report id is stored exactly once.

Real devices enrol from many addresses; these all come from 127.0.0.1, so the per-address
enrolment rate limit is raised for the run (LESSONWATCH_ENROL_BURST); the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.ingest import harness

PER_GROUP = 30
ENROL_UNLIMITED = {"LESSONWATCH_ENROL_BURST": "1000000", "LESSONWATCH_ENROL_RATE_PER_MINUTE": "1e9"}
TIMEOUT = httpx.Timeout(60.0)
MAX_TRIES = 12


@dataclass
class Device:
    base: str
    group: str
    token: str = ""
    report_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Stats:
    retries: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # report id -> status
    stored_at: list[float] = field(default_factory=list)
    gave_up: int = 0


async def request(
    client: httpx.AsyncClient, stats: Stats, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    """One request with the agent's retry rule: 429, 5xx and connection failures again after a
    capped exponential backoff with full jitter (or Retry-After); other answers are final."""
    for attempt in range(MAX_TRIES):
        began = time.perf_counter()
        try:
            answer = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            stats.retries[type(exc).__name__] += 1
            wait = random.uniform(0, min(30.0, 0.5 * 2**attempt))
        else:
            if answer.status_code != 429 and answer.status_code < 500:
                if method == "POST":
                    stats.latencies.append(time.perf_counter() - began)
                return answer
            stats.retries[str(answer.status_code)] += 1
            after = answer.headers.get("retry-after", "")
            wait = float(after) if after.isdigit() else random.uniform(0, min(30.0, 2**attempt))
        await asyncio.sleep(wait)
    stats.gave_up += 1
    return None


async def enrol(client: httpx.AsyncClient, stats: Stats, device: Device, code: str) -> None:
    body = {"code": code, "platform": "linux", "agent_version": "0.1.0"}
    answer = await request(client, stats, "POST", device.base + "/api/v1/agent/enroll", json=body)
    if answer is None or answer.status_code != 201:
        raise RuntimeError(f"enrolment failed: {answer and answer.text}")
    device.token = answer.json()["token"]
    config = await request(
        client,
        stats,
        "GET",
        device.base + "/api/v1/agent/config",
        headers={"Authorization": f"Bearer {device.token}"},
    )
    if config is None or config.status_code != 200:
        raise RuntimeError(f"config failed: {config and config.text}")


async def upload(
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    stats: Stats,
    device: Device,
    body: bytes,
    at: float,
    t0: float,
) -> None:
    await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
    # Waiting here, not inside httpx: its pool scans every queued request for every free
    # connection, which made the simulator itself the bottleneck once requests piled up.
    async with gate:
        answer = await request(
            client,
            stats,
            "POST",
            device.base + "/api/v1/agent/reports",
            content=body,
            headers={
                "Authorization": f"Bearer {device.token}",
                "Content-Type": "application/json",
            },
        )
    if answer is None or answer.status_code != 200:
        return
    for result in answer.json()["results"]:
        stats.acked[result["report_id"]] = result["status"]
    stats.stored_at.append(time.perf_counter() - t0)


async def bounded(limit: int, jobs: list[Any]) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


async def simulate(
    urls: list[str], seeded: harness.Seeded, now: datetime, args: argparse.Namespace
) -> dict[str, Any]:
    stats = Stats()
    groups = sorted(seeded.lessons)
    devices = [Device(urls[i % len(urls)], groups[i // PER_GROUP]) for i in range(args.devices)]
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits) as client:
        began = time.perf_counter()
        await bounded(
            args.concurrency, [enrol(client, stats, d, seeded.codes[d.group]) for d in devices]
        )
        enrolled = time.perf_counter() - began
        templates = {g: harness.summary_template(seeded.lessons[g], now) for g in groups}
        bodies = [
            ('{"reports":[' + templates[d.group] % d.report_id + "]}").encode() for d in devices
        ]
        rng = random.Random(9)
        moments = [rng.uniform(0, args.spread) for _ in devices]
        stats.latencies.clear()
        gate = asyncio.Semaphore(args.concurrency)
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                upload(client, gate, stats, d, b, at, t0)
                for d, b, at in zip(devices, bodies, moments, strict=True)
            )
        )
        done = time.perf_counter() - t0
    return {
        "enrol_seconds": enrolled,
        "burst_seconds": done,
        "last_stored": max(stats.stored_at, default=float("nan")),
        "stats": stats,
        "sent": {d.report_id for d in devices},
    }


def one_backend(backend: str, args: argparse.Namespace) -> tuple[list[object], list[str]]:
    now = datetime.now(UTC).replace(microsecond=0)
    problems = []
    with harness.fresh_database(backend) as url:
        groups = -(-args.devices // PER_GROUP)
        seeded = harness.seed(url, groups=groups, devices_per_group=PER_GROUP, enrol=False, now=now)
        with harness.collectors(url, args.workers, ENROL_UNLIMITED) as urls:
            result = asyncio.run(simulate(urls, seeded, now, args))
        stored = Counter(harness.stored_report_ids(url))
    stats: Stats = result["stats"]
    sent: set[str] = result["sent"]
    missing = sent - set(stored)
    doubled = [r for r, n in stored.items() if n > 1]
    statuses = Counter(stats.acked.values())
    if missing or doubled or stats.gave_up or set(statuses) - {"accepted", "duplicate"}:
        problems.append(
            f"{backend}: {len(missing)} missing, {len(doubled)} doubled, {stats.gave_up} gave "
            f"up, statuses {dict(statuses)}"
        )
    within = result["last_stored"] <= args.spread + 30
    if not within:
        problems.append(f"{backend}: last summary stored {result['last_stored']:.1f} s after bell")
    row: list[object] = [
        backend,
        args.workers,
        f"{args.devices:,}",
        f"{result['enrol_seconds']:.1f}",
        f"{args.spread:g}",
        f"{result['last_stored']:.1f}",
        "yes" if within else "NO",
        f"{harness.percentile(stats.latencies, 50) * 1000:.0f}",
        f"{harness.percentile(stats.latencies, 99) * 1000:.0f}",
        sum(stats.retries.values()),
        f"{sum(stored.values()):,}",
        len(missing),
        len(doubled),
    ]
    if stats.retries:
        print(f"{backend}: retries by cause {dict(stats.retries)}")
    return row, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=120.0, help="upload spread in seconds")
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--workers", type=int, default=2, help="collector processes")
    parser.add_argument("--concurrency", type=int, default=256, help="open connections at most")
    args = parser.parse_args(argv)
    for line in harness.machine_lines():
        print(line)
    print(
        f"run       {args.devices:,} devices in groups of {PER_GROUP}, upload spread "
        f"{args.spread:g} s, {args.workers} collector process(es), at most {args.concurrency} "
        "connections; per-address enrolment limit raised for the run "
        "(LESSONWATCH_ENROL_BURST), since every simulated device comes from 127.0.0.1"
    )
    header = [
        "backend",
        "procs",
        "devices",
        "enrol+config s",
        "spread s",
        "all stored s",
        "<= spread+30",
        "p50 ms",
        "p99 ms",
        "retries",
        "stored",
        "missing",
        "doubled",
    ]
    rows, problems = [], []
    for backend in args.backends.split(","):
        row, bad = one_backend(backend, args)
        rows.append(row)
        problems += bad
    print(harness.table(header, rows))
    print(f"load avg  {harness.load_average()} (1, 5, 15 min) after the run")
    for problem in problems:
        print("PROBLEM  ", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
