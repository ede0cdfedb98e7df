"""The bell-time burst: N simulated devices enrol, fetch their config, and at the end of the
lesson each posts its summary at a moment spread uniformly over the policy's upload spread.

    .venv/bin/python bench/ingest/burst.py [--devices 10000] [--spread 120]
        [--backends sqlite,postgres] [--workers 2] [--generators 2] [--concurrency 256]
        [--enrol http|direct]

The devices are split over ``--generators`` load-generator processes (bench/ingest/
burst_devices.py: each its own slice of devices and its own keep-alive connections, raw
asyncio HTTP/1.1 with every upload encoded before the bell), against real ``lessonwatch-service
serve`` processes on loopback ports, on a fresh database per backend. It prints how long
enrolment and config took, how long after the bell the last summary was stored, upload latency,
retries, and whether nothing was lost: it counts the rows and checks each report id is stored
exactly once. It also prints the CPU time per upload of the generators, of the collectors and
(PostgreSQL) of the collectors' database backends, so a reader sees which one was the limit.

``--enrol http`` (the default) enrols every device over HTTP, in parallel over the generator
processes. ``--enrol direct`` calls ``service.devices.enrolment.enroll``, the function the
enrolment route calls, in this process (one transaction) and skips the config fetch: for runs
about the upload alone; the output says which was used.

Real devices enrol from many addresses; these all come from 127.0.0.1, so the per-address
enrolment rate limit is raised for the run (LESSONWATCH_ENROL_BURST); the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.ingest import burst_devices, harness
from bench.ingest.burst_devices import Slice, Tally

PER_GROUP = 30
ENROL_UNLIMITED = {"LESSONWATCH_ENROL_BURST": "1000000", "LESSONWATCH_ENROL_RATE_PER_MINUTE": "1e9"}
SETUP_TIMEOUT = 3600.0


def generator(devices: Slice, sync: Barrier, bell: Synchronized[float], out: Any) -> None:
    """One generator process: enrol its devices (unless given tokens), wait for the others,
    then upload from the bell the parent sets."""
    tally = Tally()
    try:
        if not all(devices.tokens):
            asyncio.run(burst_devices.enrol_all(devices, tally))
        requests = burst_devices.upload_requests(devices)
        sync.wait(SETUP_TIMEOUT)  # every process is ready
        sync.wait(SETUP_TIMEOUT)  # the parent has set the bell
    except BaseException:
        sync.abort()  # the parent and the other generators stop waiting at once
        raise
    cpu, waited = burst_devices.own_cpu(), harness.runqueue_seconds([os.getpid()])
    asyncio.run(burst_devices.upload_all(devices, requests, bell.value, tally))
    tally.upload_cpu = burst_devices.own_cpu() - cpu
    tally.upload_waited = harness.waited_between(waited, harness.runqueue_seconds([os.getpid()]))
    out.put(tally)


def slices(
    urls: list[str], devices: list[tuple[str, str, str, float]], count: int, connections: int
) -> list[Slice]:
    """``devices`` (code, token, summary, moment) dealt round-robin into ``count`` slices, each
    with its share of the connections."""
    out = []
    for k in range(count):
        mine = devices[k::count]
        out.append(
            Slice(
                urls=urls,
                connections=max(1, connections // count),
                codes=[d[0] for d in mine],
                tokens=[d[1] for d in mine],
                summaries=[d[2] for d in mine],
                moments=[d[3] for d in mine],
            )
        )
    return out


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving the collectors (by their application name)."""
    name = make_url(url).query.get("application_name")
    with psycopg.connect(harness.pg_dsn(harness.pg_base_url()), connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_of(pids: list[int]) -> dict[int, float]:
    """Each process's CPU so far; processes that have ended are left out."""
    out = {}
    for pid in pids:
        try:
            out[pid] = harness.cpu_seconds([pid])
        except FileNotFoundError:
            continue
    return out


@dataclass
class Burst:
    enrol_seconds: float
    tallies: list[Tally]
    sent: set[str]
    collector_cpu: float
    database_cpu: float | None
    collector_enrol_cpu: float = 0.0
    collector_waited: float = 0.0
    database_backends: int = 0


def simulate(
    url: str,
    urls: list[str],
    pids: list[int],
    seeded: harness.Seeded,
    now: datetime,
    args: argparse.Namespace,
) -> Burst:
    """Enrol (unless seeded with tokens), ring the bell, and gather what every generator saw,
    with the CPU the collectors and their database backends used from the bell on."""
    groups = sorted(seeded.lessons)
    rng = random.Random(9)
    templates = {g: harness.summary_template(seeded.lessons[g], now) for g in groups}
    report_ids = [str(uuid.uuid4()) for _ in range(args.devices)]
    devices = [
        (
            seeded.codes[groups[i // PER_GROUP]],
            seeded.tokens[i] if seeded.tokens else "",
            '{"reports":[' + templates[groups[i // PER_GROUP]] % report_ids[i] + "]}",
            rng.uniform(0, args.spread),
        )
        for i in range(args.devices)
    ]
    context = multiprocessing.get_context("fork")
    sync = context.Barrier(args.generators + 1)
    bell = context.Value("d", 0.0)
    out = context.Queue()
    procs = [
        context.Process(target=generator, args=(part, sync, bell, out))
        for part in slices(urls, devices, args.generators, args.concurrency)
    ]
    began, setup_cpu = time.monotonic(), harness.cpu_seconds(pids)
    for proc in procs:
        proc.start()
    sync.wait(SETUP_TIMEOUT)
    enrolled = time.monotonic() - began
    # The bell is a moment shortly ahead on the clock every process shares (CLOCK_MONOTONIC).
    bell.value = time.monotonic() + 0.5
    database = url.startswith("postgresql")
    backends = cpu_of(backend_pids(url)) if database else {}
    collectors, waited = harness.cpu_seconds(pids), harness.runqueue_seconds(pids)
    enrol_cpu = collectors - setup_cpu
    sync.wait(SETUP_TIMEOUT)
    tallies = [out.get(timeout=args.spread + SETUP_TIMEOUT) for _ in procs]
    collector_cpu = harness.cpu_seconds(pids) - collectors
    waited_seconds = harness.waited_between(waited, harness.runqueue_seconds(pids))
    database_cpu, after = None, {}
    if database:
        after = cpu_of(backend_pids(url))
        database_cpu = sum(cpu - backends.get(pid, 0.0) for pid, cpu in after.items())
    for proc in procs:
        proc.join()
    return Burst(
        enrolled,
        tallies,
        set(report_ids),
        collector_cpu,
        database_cpu,
        enrol_cpu,
        waited_seconds,
        len(after),
    )


def one_backend(backend: str, args: argparse.Namespace) -> tuple[list[object], list[str]]:
    now = datetime.now(UTC).replace(microsecond=0)
    problems = []
    with harness.fresh_database(backend) as url:
        if backend == "postgres":
            # Named, so the run can find the collectors' backends in pg_stat_activity.
            url = harness.named_url(url, "lwburst-" + uuid.uuid4().hex[:8])
        groups = -(-args.devices // PER_GROUP)
        direct = args.enrol == "direct"
        began = time.monotonic()
        seeded = harness.seed(
            url, groups=groups, devices_per_group=PER_GROUP, enrol=direct, now=now
        )
        # Direct enrolment happens in the seeding, so its time counts as the enrolment's.
        seeding = time.monotonic() - began if direct else 0.0
        pids: list[int] = []
        with harness.collectors(url, args.workers, ENROL_UNLIMITED, pids=pids) as urls:
            burst = simulate(url, urls, pids, seeded, now, args)
        burst.enrol_seconds += seeding
        stored = Counter(harness.stored_report_ids(url))
    tallies = burst.tallies
    retries = sum((t.retries for t in tallies), Counter[str]())
    refused = sum((t.refused for t in tallies), Counter[str]())
    gave_up = sum(t.gave_up for t in tallies)
    latencies = [x for t in tallies for x in t.latencies]
    statuses = Counter(s for t in tallies for s in t.acked.values())
    last_stored = max((x for t in tallies for x in t.stored_at), default=float("nan"))
    missing = burst.sent - set(stored)
    doubled = [r for r, n in stored.items() if n > 1]
    if missing or doubled or gave_up or refused or set(statuses) - {"accepted", "duplicate"}:
        problems.append(
            f"{backend}: {len(missing)} missing, {len(doubled)} doubled, {gave_up} gave up, "
            f"refused {dict(refused)}, statuses {dict(statuses)}"
        )
    within = last_stored <= args.spread + 30
    if not within:
        problems.append(f"{backend}: last summary stored {last_stored:.1f} s after bell")
    row: list[object] = [
        backend,
        args.workers,
        args.generators,
        f"{args.devices:,}",
        f"{args.enrol} {burst.enrol_seconds:.1f}",
        f"{args.spread:g}",
        f"{last_stored:.1f}",
        "yes" if within else "NO",
        f"{harness.percentile(latencies, 50) * 1000:.0f}",
        f"{harness.percentile(latencies, 99) * 1000:.0f}",
        sum(retries.values()),
        f"{sum(stored.values()):,}",
        len(missing),
        len(doubled),
    ]
    if retries:
        print(f"{backend}: retries by cause {dict(retries)}")
    print(cpu_line(backend, burst, args))
    return row, problems


def cpu_line(backend: str, burst: Burst, args: argparse.Namespace) -> str:
    """CPU per upload of each party, and its share of a core over the spread: the one near a
    whole core per process is the limit."""
    uploads = max(1, args.devices)
    generators = sum(t.upload_cpu for t in burst.tallies)
    enrol = sum(t.enrol_cpu for t in burst.tallies)
    seconds = max((t.upload_seconds for t in burst.tallies), default=1.0)
    parts = [
        f"generators {generators / uploads * 1e6:,.0f} us/upload "
        f"({generators / seconds / args.generators:.0%} of a core each, waited for one "
        f"{sum(t.upload_waited for t in burst.tallies) / seconds / args.generators:.0%})",
        f"collectors {burst.collector_cpu / uploads * 1e6:,.0f} us/upload "
        f"({burst.collector_cpu / seconds / args.workers:.0%} of a core each, waited for one "
        f"{burst.collector_waited / seconds / args.workers:.0%})",
    ]
    if burst.database_cpu is not None:
        parts.append(
            f"{burst.database_backends} PostgreSQL backends "
            f"{burst.database_cpu / uploads * 1e6:,.0f} us/upload "
            f"({burst.database_cpu / seconds:.0%} of a core)"
        )
    if args.enrol == "http":
        parts.append(
            f"at enrolment and config, generators {enrol / uploads * 1e6:,.0f} us/device, "
            f"collectors {burst.collector_enrol_cpu / uploads * 1e6:,.0f} us/device"
        )
    head = f"cpu       {backend}, the {seconds:.1f} s from the bell until the last answer "
    return head + f"({uploads / seconds:,.0f} uploads/s): " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=120.0, help="upload spread in seconds")
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--workers", type=int, default=2, help="collector processes")
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--concurrency", type=int, default=256, help="open connections at most, over all generators"
    )
    parser.add_argument(
        "--enrol",
        choices=("http", "direct"),
        default="http",
        help="enrol over HTTP (and fetch config), or call the enrolment function directly",
    )
    args = parser.parse_args(argv)
    for line in harness.machine_lines():
        print(line)
    print(
        f"run       {args.devices:,} devices in groups of {PER_GROUP}, upload spread "
        f"{args.spread:g} s, {args.workers} collector process(es), {args.generators} "
        f"generator process(es), at most {args.concurrency} connections; per-address enrolment "
        "limit raised for the run (LESSONWATCH_ENROL_BURST), since every simulated device "
        "comes from 127.0.0.1"
    )
    if args.enrol == "direct":
        print(
            "setup     devices enrolled by service.devices.enrolment.enroll (the enrolment "
            "route's function) in one transaction, not over HTTP; no config fetch"
        )
    header = [
        "backend",
        "procs",
        "gens",
        "devices",
        "enrol s",
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
