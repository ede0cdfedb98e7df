"""The collector's ingestion rate next to its own bare endpoint, measured side by side in one run.

    .venv/bin/python bench/ingest/ingest.py [--backends sqlite,postgres] [--workers 1,2]
        [--seconds 10] [--rounds 1] [--concurrency 16] [--devices 64] [--lessons 600]

For each backend (a fresh SQLite file; a fresh schema in the PostgreSQL test database) and each
number of collector processes (real ``lessonwatch-service serve`` processes, each on its own
loopback port, driven round-robin), a separate load-generator process (bench/ingest/load.py)
drives, in turn: ``GET /healthz`` (no work: the baseline), report batches of 1 summary and
batches of 50. It prints requests and summaries per second, p50 and p99 latency, and two ratios
to the bare endpoint's request rate in the same configuration: requests per second, and
summaries stored per second; and the CPU time the collector processes spent per request (user
and system, read from /proc). With ``--rounds N`` the three take turns N times and each ratio is
taken within a round (so a change in the machine's other load between rounds moves both sides):
the tables give the median rate and the median ratio with the lowest and highest in brackets.
After each run it reads the database: every summary the collector acknowledged as accepted
must be stored, once.

The load generator sends as fast as the collectors answer, so the per-device rate limit is
raised for the run (LESSONWATCH_DEVICE_BURST); the output says so. A device sends at most 30
summaries for one lesson (``max_summaries_per_lesson``), so each device's summaries go to
``--lessons`` lessons in turn, one an hour back: a real device sends one per lesson, and a run
of 600 lessons stays far below the bound (every item not accepted is reported as a problem).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.ingest import harness

LOAD = Path(__file__).with_name("load.py")
# Every device may send as fast as the generator can: the benchmark measures the server, and a
# real school's devices each send one batch per lesson.
UNLIMITED = {"LESSONWATCH_DEVICE_BURST": "100000000", "LESSONWATCH_DEVICE_RATE_PER_MINUTE": "1e9"}
ENDPOINTS = (("healthz", 0), ("batch 1", 1), ("batch 50", 50))


def drive(job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lwload-") as folder:
        job_path, result_path = Path(folder) / "job.json", Path(folder) / "result.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        subprocess.run(
            [sys.executable, str(LOAD), str(job_path), str(result_path)],
            check=True,
            timeout=job["seconds"] + 600,
        )
        result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        return result


def spread(values: list[float]) -> str:
    """The median, and with several rounds the lowest and highest in brackets."""
    median = f"{statistics.median(values):.2f}"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):.2f}-{max(values):.2f})"


def max_requests(batch: int, seconds: float) -> int:
    # Bounded in count as well as time; enough that the time bound is what ends a run here.
    per_second = {0: 6000, 1: 2000, 50: 200}[batch]
    return int(per_second * seconds) + 200


def one_configuration(
    backend: str, workers: int, args: argparse.Namespace
) -> tuple[list[list[object]], list[str]]:
    rows: list[list[object]] = []
    problems: list[str] = []
    now = datetime.now(UTC).replace(microsecond=0)
    with harness.fresh_database(backend) as url:
        tokens, templates = harness.seed_devices_and_lessons(
            url, devices=args.devices, lessons=args.lessons, now=now
        )
        pids: list[int] = []
        with harness.collectors(url, workers, UNLIMITED, pids=pids) as urls:
            acked: list[str] = []
            # rounds[endpoint] = one result per round; the endpoints take turns in each round,
            # so every ratio compares figures measured minutes apart at most.
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in ENDPOINTS}
            for _ in range(args.rounds):
                for name, batch in ENDPOINTS:
                    job = {
                        "urls": urls,
                        "batch": batch,
                        "tokens": tokens,
                        "templates": templates,
                        "seconds": args.seconds,
                        "max_requests": max_requests(batch, args.seconds),
                        "warmup": 40,
                        "concurrency": args.concurrency,
                        "timeout": 60,
                    }
                    cpu_before = harness.cpu_seconds(pids)
                    result = drive(job)
                    # Warm-up requests included: the collectors' CPU cannot be told apart.
                    result["cpu"] = (harness.cpu_seconds(pids) - cpu_before) / (
                        result["requests"] + job["warmup"]
                    )
                    acked += result["accepted"]
                    rounds[name].append(result)
                    not_ok = {k: v for k, v in result["statuses"].items() if k != "200"}
                    items = result["items"]
                    if not_ok or result["failures"] or set(items) - {"accepted"}:
                        problems.append(
                            f"{backend} x{workers} {name}: statuses {result['statuses']}, "
                            f"items {items}, connection failures {result['failures']}"
                        )
            baselines = [r["requests"] / r["elapsed"] for r in rounds["healthz"]]
            for name, batch in ENDPOINTS:
                results = rounds[name]
                rates = [r["requests"] / r["elapsed"] for r in results]
                ratios = [rate / base for rate, base in zip(rates, baselines, strict=True)]
                lat = [x for r in results for x in r["latencies"]]
                rate = statistics.median(rates)
                rows.append(
                    [
                        backend,
                        workers,
                        name,
                        sum(r["requests"] for r in results),
                        f"{rate:,.0f}",
                        f"{rate * batch:,.0f}" if batch else "-",
                        f"{harness.percentile(lat, 50) * 1000:.1f}",
                        f"{harness.percentile(lat, 99) * 1000:.1f}",
                        f"{statistics.median(r['cpu'] for r in results) * 1e6:,.0f}",
                        spread(ratios),
                        spread([r * batch for r in ratios]) if batch else "-",
                    ]
                )
        stored = Counter(harness.stored_report_ids(url))
    missing = [r for r in acked if stored[r] == 0]
    doubled = [r for r, n in stored.items() if n > 1]
    rows.append(
        [
            backend,
            workers,
            "durable",
            f"acked {len(acked):,}",
            f"stored {sum(stored.values()):,}",
            f"missing {len(missing)}",
            f"doubled {len(doubled)}",
            "",
            "",
            "",
            "",
        ]
    )
    if missing or doubled:
        problems.append(f"{backend} x{workers}: {len(missing)} acknowledged summaries missing")
    return rows, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--workers", default="1,2", help="collector process counts, e.g. 1,2")
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint and setting")
    parser.add_argument("--concurrency", type=int, default=16, help="open connections in all")
    parser.add_argument("--devices", type=int, default=64, help="device tokens to rotate over")
    parser.add_argument(
        "--lessons",
        type=int,
        default=600,
        help="past lessons of the devices' group, hourly back (within the 28 days kept); each "
        "device's summaries go to them in turn",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="times each endpoint is driven, taking turns"
    )
    args = parser.parse_args(argv)
    for line in harness.machine_lines():
        print(line)
    print(
        f"run       {args.seconds:g} s per endpoint and round, {args.rounds} round(s), "
        f"{args.concurrency} keep-alive connections "
        f"from one load-generator process, {args.devices} devices taking turns over "
        f"{args.lessons} lessons; device rate limit raised "
        "for the benchmark (LESSONWATCH_DEVICE_BURST)"
    )
    header = [
        "backend",
        "procs",
        "endpoint",
        "requests",
        "req/s",
        "summaries/s",
        "p50 ms",
        "p99 ms",
        "collector CPU us/req",
        "req/s vs healthz",
        "summaries/s vs healthz req/s",
    ]
    rows: list[list[object]] = []
    problems: list[str] = []
    for backend in args.backends.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            got, bad = one_configuration(backend, workers, args)
            rows += got
            problems += bad
            print(harness.table(header, got), flush=True)
            print()
    print(harness.table(header, rows))
    print(f"load avg  {harness.load_average()} (1, 5, 15 min) after the run")
    for problem in problems:
        print("PROBLEM  ", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
