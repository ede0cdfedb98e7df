"""How much the policy engine adds to a process scan, measured side by side in one run.

    .venv/bin/python bench/policy_match.py [--processes 400] [--rounds 200]

Spawns idle ``sleep`` processes until the machine runs about that many. The floor is the
scan itself: reading /proc/<pid>/comm and the exe link of every process. The engine's part is
classifying the same number of observations (real names from this machine, topped up with
catalog names and near-misses so both hits and misses are exercised) and evaluating them
against a running lesson. Prints a table and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta

from policies import LessonContext, ProcessSeen, compile_policy, evaluate, load_policy


def scan_proc() -> list[ProcessSeen]:
    seen = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                name = handle.read().strip()
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                exe = None
        except OSError:
            continue
        seen.append(ProcessSeen(name=name, exe=exe, platform="linux"))
    return seen


def observations(n: int) -> list[ProcessSeen]:
    real = scan_proc()
    extra = [
        ProcessSeen(name=name, platform="linux")
        for name in (
            "telegram-deskto",
            "obs",
            "observer",
            "jobs",
            "Discord",
            "kworker/0:1",
            "systemd",
            "firefox",
            "gnome-shell",
            "pipewire",
        )
    ]
    pool = real + extra
    return [pool[i % len(pool)] for i in range(n)]


def timed(fn, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    # Top the machine up to the target count with idle processes, so the floor scans as many
    # processes as the engine classifies.
    spawned = [
        subprocess.Popen(["sleep", "600"]) for _ in range(max(0, args.processes - len(scan_proc())))
    ]
    try:
        run(args)
    finally:
        for child in spawned:
            child.kill()
            child.wait()


def run(args: argparse.Namespace) -> None:
    build_start = time.perf_counter()
    compiled = compile_policy(load_policy())
    build = time.perf_counter() - build_start

    now = datetime.now(UTC)
    lesson = LessonContext("bench", now - timedelta(minutes=5), now + timedelta(minutes=45))
    batch = observations(args.processes)
    n_proc = len(scan_proc())

    scan = timed(scan_proc, args.rounds)
    engine = timed(lambda: evaluate(compiled, batch, lesson, now=now), args.rounds)

    def per(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e6:9.1f} µs"

    print(f"processes on this machine: {n_proc}; observations classified: {len(batch)}")
    print(f"policy load + index build (once per policy): {build * 1e3:.1f} ms")
    print(f"{'step':<46}{'median':>12}")
    print(f"{'floor: read comm + exe of every process':<46}{per(scan):>12}")
    print(f"{f'engine: evaluate {len(batch)} observations':<46}{per(engine):>12}")
    per_obs = statistics.median(engine) / len(batch) * 1e6
    print(f"{'engine per observation':<46}{per_obs:>9.2f} µs")
    print(
        f"ratio engine/floor (same run): {statistics.median(engine) / statistics.median(scan):.3f}"
    )


if __name__ == "__main__":
    main()
