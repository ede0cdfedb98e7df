"""Agent footprint on this machine: memory while monitoring, CPU per sample, idle wake-ups.

    .venv/bin/python bench/agent/footprint.py [--processes 400] [--rounds 50] [--idle 30]
        [--memory-runs 3] [--env NAME=VALUE ...] [--python PATH]

Measures, in one run and on the same process table:
1. the floor: reading /proc/<pid>/comm for every process (the least any process scan costs);
2. one sample of the processes probe plus the engine and the accumulator (the per-sample work
   that scales with the number of processes);
3. one full sample with every probe the policy enables (camera, microphone, capture folders);
4. resident memory of a real ``lessonwatch-agent run`` while it monitors a lesson, listening
   for the per-user helper as the installed service does, with ``lessonwatch-agent helper``
   connected (its RSS printed too), the median of ``--memory-runs`` starts, twice: with the
   bytecode of every module cached (a developer's venv after one start), and with bytecode
   cached for the standard library only (the .deb: its venv ships no ``__pycache__`` and the
   service cannot write one, so the agent's dependencies and its own code are compiled at
   every start); ``--env`` adds variables to the agent's environment (``MALLOC_ARENA_MAX=2``,
   ``PYTHONOPTIMIZE=2``) to measure their effect; ``--python`` runs the agent and the helper
   with another interpreter, such as the .deb's venv (``opt/lessonwatch-agent/venv/bin/python``
   of the unpacked package): its interpreter and libraries, this tree's agent code;
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
MONITOR_SECONDS = 20  # how long the agent monitors before its memory is read
MEASURES = ("rss", "uss", "pss")
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


def run_agent(
    python: str, state: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The agent as a real process; ``env`` replaces the inherited environment when given."""
    env = {**(os.environ if env is None else env), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [python, "-m", "agent", "run", "--state-dir", str(state), *args],
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
    parser.add_argument("--memory-runs", type=int, default=3, help="agent starts per set-up")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="for the agent runs"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="interpreter for the agent runs (default: this one), e.g. the .deb's venv",
    )
    args = parser.parse_args()
    print(f"load average before: {load_average()}")

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

    memory, idle = agent_runs(work, args)
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
    extra = f", with {' '.join(args.env)}" if args.env else ""
    if args.python != sys.executable:
        extra += f", run by {args.python}"
    print(
        f"memory of 'lessonwatch-agent run' after {MONITOR_SECONDS} s monitoring "
        f"(median of {args.memory_runs} starts{extra}):"
    )
    print(f"| {'bytecode':<44} | {'RSS':>17} | {'USS':>17} | {'PSS':>17} | threads |")
    print(f"|{'-' * 46}|{'-' * 19}|{'-' * 19}|{'-' * 19}|{'-' * 9}|")
    for label, runs in memory.items():
        cells = [statistics.median(r[k] for r in runs) for k in MEASURES]
        print(
            f"| {label:<44} | "
            + " | ".join(f"{v / 2**20:4.1f} MiB ({v / 1e6:4.1f} MB)" for v in cells)
            + f" | {runs[-1]['threads']:>7} |"
        )
    for label, runs in memory.items():
        print(f"resident, last start, {label}: " + made_of(runs[-1]["smaps"]))
    for label, runs in memory.items():
        helper = [statistics.median(getattr(r["helper"], k) for r in runs) for k in MEASURES]
        print(
            f"the per-user helper beside it, {label}: "
            + ", ".join(
                f"{k.upper()} {v / 2**20:.1f} MiB" for k, v in zip(MEASURES, helper, strict=True)
            )
        )
    print(
        f"idle agent over {args.idle:.0f} s: {idle['samples']} samples, "
        f"{idle['switches']} context switches (all threads), jobs: {idle['jobs']}"
    )
    print(f"load average after: {load_average()}")
    return 0


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def smaps_rss(pid: int) -> dict[str, int]:
    """Resident bytes per mapping name; anonymous memory, heap and stacks under "anonymous"."""
    sizes: dict[str, int] = {}
    name = "anonymous"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and "-" in parts[0] and ":" in parts[3]:
            path = parts[5] if len(parts) > 5 else ""
            name = os.path.basename(path) if path.startswith("/") else "anonymous"
        elif parts and parts[0] == "Rss:":
            sizes[name] = sizes.get(name, 0) + int(parts[1]) * 1024
    return sizes


def made_of(sizes: dict[str, int]) -> str:
    def lib(prefix: str) -> int:
        return sum(v for k, v in sizes.items() if k.startswith(prefix))

    parts = {
        "anonymous and heap": sizes.get("anonymous", 0),
        "libpython": lib("libpython"),
        "libcrypto+libssl": lib("libcrypto") + lib("libssl"),
        "libc": lib("libc.so"),
        "libsqlite": lib("libsqlite"),
    }
    parts["other files"] = sum(sizes.values()) - sum(parts.values())
    return ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in parts.items())


def bytecode_setups(work: Path, extra: dict[str, str]) -> dict[str, dict[str, str]]:
    """Agent environments: every module's bytecode cached, or the standard library's only.

    Both use a private bytecode cache (``PYTHONPYCACHEPREFIX``) so the caller's
    ``PYTHONDONTWRITEBYTECODE`` and stray ``__pycache__`` folders do not change the figures.
    """
    cached, stdlib_only = work / "pyc-all", work / "pyc-stdlib"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        "cached for every module": {**env, "PYTHONPYCACHEPREFIX": str(cached), **extra},
        "stdlib only (as the .deb installs it)": {
            **env,
            "PYTHONPYCACHEPREFIX": str(stdlib_only),
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        },
    }


def keep_stdlib_bytecode(work: Path, python: str) -> None:
    """Copy the standard library's part of the warmed-up cache: Debian ships those pycs."""
    # The agent's interpreter may be another one (``--python``), with its library elsewhere.
    paths = json.loads(
        subprocess.check_output(
            [python, "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"]
        )
    )
    for key in ("stdlib", "platstdlib"):
        part = Path(paths[key]).relative_to("/")
        if (work / "pyc-all" / part).is_dir():
            shutil.copytree(work / "pyc-all" / part, work / "pyc-stdlib" / part, dirs_exist_ok=True)
    (work / "pyc-stdlib").mkdir(exist_ok=True)


def monitored_run(
    collector: Standin, state: Path, env: dict[str, str], seconds: float, python: str
) -> dict:
    """Enrol a fresh state, run the agent in the running lesson as the installed service does
    (listening for the per-user helper) with a helper connected, measure both after
    ``seconds``."""
    from agent.cli import main as agent_main

    code = collector.enrolment_code("3B")
    agent_main(["enroll", "--state-dir", str(state), "--server", collector.url, "--code", code])
    socket_path = str(state) + ".sock"
    agent = run_agent(
        python,
        state,
        "--sample-seconds", "1",
        "--helper-socket", socket_path, "--helper-user", str(os.geteuid()),
        env=env,
    )  # fmt: skip
    helper = subprocess.Popen(
        [python, "-m", "agent", "helper", "--socket", socket_path],
        env={**env, "PYTHONPATH": str(REPO)},
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        time.sleep(seconds)  # a sample of ~400 processes every second, checkpoints, probes running
        proc = psutil.Process(agent.pid)
        mem = proc.memory_full_info()
        return {
            "rss": mem.rss,
            "uss": mem.uss,
            "pss": mem.pss,
            "threads": proc.num_threads(),
            "smaps": smaps_rss(agent.pid),
            "helper": psutil.Process(helper.pid).memory_full_info(),
        }
    finally:
        for process in (helper, agent):
            process.terminate()
            process.wait(timeout=10)


def agent_runs(work: Path, args: argparse.Namespace) -> tuple[dict[str, list[dict]], dict]:
    from agent.cli import main as agent_main

    collector = Standin()
    try:
        start = datetime.now(UTC)
        collector.add_lesson("3B", start, start + timedelta(hours=1))
        setups = bytecode_setups(work, dict(e.split("=", 1) for e in args.env))
        # One start writes the bytecode of everything the agent imports into the private cache.
        monitored_run(
            collector, work / "warm-up", setups["cached for every module"], 8, args.python
        )
        keep_stdlib_bytecode(work, args.python)
        memory: dict[str, list[dict]] = {label: [] for label in setups}
        for i in range(args.memory_runs):
            for n, (label, env) in enumerate(setups.items()):
                state = work / f"state-{i}-{n}"
                memory[label].append(
                    monitored_run(collector, state, env, MONITOR_SECONDS, args.python)
                )

        idle_state = work / "idle"
        code = collector.enrolment_code("4C")
        agent_main(
            ["enroll", "--state-dir", str(idle_state), "--server", collector.url, "--code", code]
        )
        agent = run_agent(args.python, idle_state)
        try:
            time.sleep(5)  # start-up: first config poll, replan
            before = threads_ctx_switches(agent.pid)
            time.sleep(args.idle)
            after = threads_ctx_switches(agent.pid)
            status = json.loads((idle_state / "status.v1.json").read_text())
        finally:
            agent.terminate()
            agent.wait(timeout=10)
        return memory, {
            "samples": 0 if not status.get("monitoring") else "monitoring!",
            "switches": after - before,
            "jobs": "config poll every 900 s, nothing periodic",
        }
    finally:
        collector.down()


if __name__ == "__main__":
    sys.exit(main())
