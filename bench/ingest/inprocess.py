"""What storing one summary costs in the collector's own code, without HTTP, step by step.

    .venv/bin/python bench/ingest/inprocess.py [--backends sqlite,postgres] [--rounds 400]

On a fresh database per backend (64 enrolled devices, one lesson), one thread, it times:

- the token check as each request did it before the cache: a transaction reading the device by
  its token hash (and writing last_seen when due), next to a cache hit and a combined look-up
  of 16 tokens in one transaction;
- storing a single-summary batch in a transaction of its own (what each request did before
  group commit), and in groups of 4, 16 and 64 single-summary batches in one transaction
  (``group_commit.write_group``), per summary;
- the pure steps per summary: JSON decoding of a request body, the wire-format check
  (``parse_summary``) and the JSON form stored (``LessonSummary.to_json``).

Every figure is the median of ``--rounds`` timed repetitions after a warm-up, in microseconds:
wall time, and the CPU time of the measuring thread (what the collector itself spends; the wall
time adds the database server's work and, on a busy machine, waiting for a core). The gains
compare a cache hit or a combined look-up with the token check in its own transaction, and
the groups with a single summary stored in its own transaction.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.ingest import harness
from policies.wire import parse_summary
from service import credentials, db
from service.devices import registry as devices
from service.devices import token_cache
from service.ingest import group_commit
from service.ingest import summaries as ingest

TOLERANCE = timedelta(hours=1)
GROUPS = (4, 16, 64)


def median_us(step: Callable[[], object], rounds: int, per: int = 1) -> tuple[float, float]:
    """Median wall time and median CPU time of this thread, per ``per``, in microseconds: the
    wall time includes the database server's work and waiting for a core on a busy machine."""
    for _ in range(min(20, rounds)):
        step()
    walls, cpus = [], []
    for _ in range(rounds):
        began, cpu = time.perf_counter(), time.thread_time()
        step()
        walls.append(time.perf_counter() - began)
        cpus.append(time.thread_time() - cpu)
    return statistics.median(walls) / per * 1e6, statistics.median(cpus) / per * 1e6


def one_backend(backend: str, rounds: int) -> list[list[object]]:
    now = datetime.now(UTC).replace(microsecond=0)
    rows: list[list[object]] = []

    def row(
        step: str, us: tuple[float, float], baseline: tuple[float, float] | None = None
    ) -> None:
        ratio = f"{baseline[0] / us[0]:.1f}x" if baseline else ""
        cpu_ratio = f"{baseline[1] / us[1]:.1f}x" if baseline else ""
        rows.append([backend, step, f"{us[0]:,.0f}", f"{us[1]:,.0f}", ratio, cpu_ratio])

    with harness.fresh_database(backend) as url:
        seeded = harness.seed(url, groups=1, devices_per_group=64, enrol=True, now=now)
        template = harness.summary_template(next(iter(seeded.lessons.values())), now)
        engine = db.make_engine(url)
        sessions = db.session_factory(engine)
        keys = [credentials.token_hash(t) for t in seeded.tokens]
        with sessions.begin() as session:
            found = devices.active_devices(session, keys, now)
        fleet = [found[k] for k in keys]
        turn = iter(range(10**9))

        def item() -> object:
            return json.loads(template % uuid.uuid4())

        def token_check() -> None:
            token = seeded.tokens[next(turn) % len(seeded.tokens)]
            with sessions.begin() as session:
                devices.touch(session, devices.device_for_token(session, token), now)

        before = median_us(token_check, rounds)
        row("token check: own transaction", before)
        cache = token_cache.TokenCache(monotonic=time.monotonic)
        for key, device in found.items():
            cache.put(key, device, generation=cache.generation())
        row(
            "token check: cache hit",
            median_us(lambda: cache.get(keys[next(turn) % len(keys)]), rounds),
            before,
        )

        def combined() -> None:
            with sessions.begin() as session:
                devices.active_devices(session, keys[:16], now)

        row("token check: 16 in one look-up", median_us(combined, rounds, 16), before)

        def alone() -> None:
            device = fleet[next(turn) % len(fleet)]
            with sessions.begin() as session:
                ingest.ingest_batch(
                    session, device=device, items=[item()], now=now, future_tolerance=TOLERANCE
                )

        single = median_us(alone, rounds)
        row("store 1 summary: own transaction", single)
        for size in GROUPS:

            def group(size: int = size) -> None:
                batches = [
                    ingest.parse_batch(fleet[next(turn) % len(fleet)], [item()])
                    for _ in range(size)
                ]
                outcomes = group_commit.write_group(
                    engine, batches, clock=lambda: now, future_tolerance=TOLERANCE
                )
                assert all(isinstance(o, list) for o in outcomes), outcomes

            row(
                f"store 1 summary: group of {size}",
                median_us(group, max(rounds // size, 20), size),
                single,
            )
        engine.dispose()

    body = ('{"reports":[' + template % uuid.uuid4() + "]}").encode()
    raw = json.loads(template % uuid.uuid4())
    summary = parse_summary(raw)
    row("json.loads of a 1-summary body", median_us(lambda: json.loads(body), rounds * 10))
    row("parse_summary", median_us(lambda: parse_summary(raw), rounds * 10))
    row("LessonSummary.to_json", median_us(summary.to_json, rounds * 10))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args(argv)
    for line in harness.machine_lines():
        print(line)
    header = ["backend", "step", "wall us", "CPU us", "wall gain", "CPU gain"]
    rows: list[list[object]] = []
    for backend in args.backends.split(","):
        rows += one_backend(backend, args.rounds)
    print(harness.table(header, rows))
    print(f"load avg  {harness.load_average()} (1, 5, 15 min) after the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
