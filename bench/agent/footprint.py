"""Agent footprint on this machine: memory while monitoring, CPU per sample, idle wake-ups.

    .venv/bin/python bench/agent/footprint.py [--processes 400] [--rounds 50] [--idle 30]

Measures, in one run and on the same process table:
1. the floor: reading /proc/<pid>/comm for every process (the least any process scan costs);
2. one sample of the processes probe plus the engine and the accumulator (the per-sample work
   that scales with the number of processes);
3. one full sample with every probe the policy enables (camera, microphone, capture folders);
4. resident memory of a real ``lessonwatch-agent run`` while it monitors a lesson;
5. an idle agent (no lesson): samples taken and context switches of all its threads.
CPU times are process CPU (user + system) medians, not wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from agent import summary  # noqa: E402
from agent.probes import gather  # noqa: E402
from agent.probes.processes import ProcessProbe  # noqa: E402
from agent.sampler import build_probes  # noqa: E402
from policies import LessonContext, compile_policy, evaluate, load_policy  # noqa: E402
from tests.agent.standin import Standin  # noqa: E402


def pids() -> list[str]:
    return [e for e in os.listdir("/proc") if e.isdigit()]


def read_all_comm() -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", "rb") as fh:
                fh.read()
            n += 1
        except OSError:
            pass
    return n


def cpu_median(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def spawn(target: int, root: Path) -> list[subprocess.Popen[bytes]]:
    names = ["telegram-desktop", "Discord", "obs", "firefox", "code", "bash", "python3", "gjs"]
    started = []
    i = 0
    while len(pids()) < target:
        folder = root / f"p{i}"
        folder.mkdir()
        exe = folder / names[i % len(names)]
        shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
        started.append(subprocess.Popen([str(exe), "3600"]))
        i += 1
    return started


def threads_ctx_switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def run_agent(state: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--state-dir", str(state), *args],
        env=env,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds to watch an idle agent")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    os.environ["HOME"] = str(work / "home")
    (work / "home" / "Pictures" / "Screenshots").mkdir(parents=True)
    helpers = spawn(args.processes, work)
    try:
        return measure(args, work)
    finally:
        for proc in helpers:
            proc.kill()
        for proc in helpers:
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path) -> int:
    compiled = compile_policy(load_policy())
    now = datetime.now(UTC)
    lesson = LessonContext("l_bench", now - timedelta(minutes=1), now + timedelta(hours=1))
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_bench",
        lesson.end,
        now,
        sample_seconds=15,
        grace_seconds=60,
    )
    n = read_all_comm()

    probe = ProcessProbe()
    probe.start()
    probe.sample()  # the first sample learns every process once

    def process_sample() -> None:
        nonlocal state
        seen, states = gather([probe])
        found = evaluate(compiled, seen, lesson, (), now=now)
        state = summary.step(state, found, states, now)

    full = build_probes(compiled)
    for p in full:
        p.start()
    gather(full)
    full_states: dict[str, str] = {}

    def full_sample() -> None:
        seen, states = gather(full)
        full_states.update(states)
        evaluate(compiled, seen, lesson, (), now=now)

    floor = cpu_median(read_all_comm, args.rounds)
    proc_cost = cpu_median(process_sample, args.rounds)
    full_cost = cpu_median(full_sample, max(5, args.rounds // 5))
    first_cost = cpu_median(lambda: ProcessProbe().sample(), 5)
    for p in full:
        p.stop()

    rss, idle = agent_runs(work)
    print(
        f"machine: {platform.node()} {platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"psutil {psutil.__version__}"
    )
    print(f"processes on the machine: {n}; rounds: {args.rounds}")
    print()
    print(f"| {'measure':<58} | {'CPU per sample':>14} | {'x floor':>7} |")
    print(f"|{'-' * 60}|{'-' * 16}|{'-' * 9}|")
    for label, cost in (
        ("floor: read /proc/<pid>/comm of every process", floor),
        ("processes probe + engine + accumulator (steady state)", proc_cost),
        ("processes probe, first sample of a lesson (cold cache)", first_cost),
        (
            "all probes + engine ("
            + ", ".join(f"{k} {v}" for k, v in sorted(full_states.items()))
            + ")",
            full_cost,
        ),
    ):
        print(f"| {label:<58} | {cost * 1000:>11.2f} ms | {cost / floor:>7.2f} |")
    print()
    print(
        "memory of 'lessonwatch-agent run' after 20 s monitoring: "
        + ", ".join(f"{k.upper()} {v / 2**20:.1f} MiB ({v / 1e6:.1f} MB)" for k, v in rss.items())
    )
    print(
        f"idle agent over {args.idle:.0f} s: {idle['samples']} samples, "
        f"{idle['switches']} context switches (all threads), jobs: {idle['jobs']}"
    )
    return 0


def agent_runs(work: Path) -> tuple[dict[str, int], dict]:
    from agent.cli import main as agent_main

    args = parse_known()
    collector = Standin()
    try:
        state = work / "state"
        code = collector.enrolment_code("3B")
        agent_main(["enroll", "--state-dir", str(state), "--server", collector.url, "--code", code])
        start = datetime.now(UTC)
        collector.add_lesson("3B", start, start + timedelta(minutes=5))
        agent = run_agent(state, "--sample-seconds", "1")
        try:
            time.sleep(20)  # twenty samples of ~400 processes, a checkpoint, probes running
            mem = psutil.Process(agent.pid).memory_full_info()
            rss = {"rss": mem.rss, "uss": mem.uss, "pss": mem.pss}
        finally:
            agent.terminate()
            agent.wait(timeout=10)

        idle_state = work / "idle"
        code = collector.enrolment_code("4C")
        agent_main(
            ["enroll", "--state-dir", str(idle_state), "--server", collector.url, "--code", code]
        )
        agent = run_agent(idle_state)
        try:
            time.sleep(5)  # start-up: first config poll, replan
            before = threads_ctx_switches(agent.pid)
            time.sleep(args.idle)
            after = threads_ctx_switches(agent.pid)
            status = json.loads((idle_state / "status.v1.json").read_text())
        finally:
            agent.terminate()
            agent.wait(timeout=10)
        return rss, {
            "samples": 0 if not status.get("monitoring") else "monitoring!",
            "switches": after - before,
            "jobs": "config poll every 900 s, nothing periodic",
        }
    finally:
        collector.down()


def parse_known() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--idle", type=float, default=30.0)
    return parser.parse_known_args()[0]


if __name__ == "__main__":
    sys.exit(main())
