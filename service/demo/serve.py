"""``lessonwatch-service demo``: the whole product on one machine, for trying it out.

A collector on a fresh SQLite file with the demo school (``service.demo.data``: users, groups,
four weeks of lessons, one lesson of group 3B in progress with its report populated, and
``service.demo.showcase``: group chats, holidays, a timetable source, next week's lessons, a
policy override, a per-device view with its reason), the web
pages in demo mode, and a local agent enrolled in 3B and monitoring that lesson for real. The
agent runs as its own process through its command (``lessonwatch-agent``): the collector never
imports the agent.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from service import db
from service.actors import Actor
from service.demo import data as demo_data
from service.demo import showcase
from service.devices import enrolment
from service.runtime import utc_now
from service.schools import registry as schools
from service.settings import Settings

if TYPE_CHECKING:
    import uvicorn


@dataclass
class DemoRun:
    url: str
    database: Path
    lesson: str
    passwords: dict[str, str]
    code: str


def prepare(directory: Path, url: str) -> DemoRun:
    """A fresh demo database with the demo school and an enrolment code for group 3B."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "collector.sqlite3"
    for stale in directory.glob("collector.sqlite3*"):
        stale.unlink()
    engine = db.make_engine(f"sqlite:///{database}")
    try:
        db.migrate(engine)
        now = utc_now()
        with db.session_factory(engine).begin() as session:
            demo = demo_data.seed(session, now=now)
            showcase.seed(session, demo, now=now)
            school = schools.school(session, demo.school)
            code = enrolment.create_code(
                session,
                actor=Actor.operator(school),
                group="3B",
                uses=5,
                lifetime=timedelta(days=1),
                now=now,
            )
    finally:
        engine.dispose()
    return DemoRun(url, database, demo.lesson_in_progress, demo.passwords, code)


def _serve(run: DemoRun, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    # Imported here so the CLI stays quick for every other command.
    import uvicorn

    from service.app import create_app
    from service.web import WebSettings

    app = create_app(Settings(db=f"sqlite:///{run.database}"), web=WebSettings(demo=True))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="collector", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"lessonwatch-service demo: the collector did not start on {port}")
        time.sleep(0.05)
    return server, thread


def _agent_command() -> str | None:
    beside = Path(sys.executable).with_name("lessonwatch-agent")
    return str(beside) if beside.exists() else shutil.which("lessonwatch-agent")


def _start_agent(run: DemoRun, state: Path) -> subprocess.Popen[bytes] | None:
    agent = _agent_command()
    if agent is None:
        print("  local agent: not installed (pip install -e '.[agent]'); the demo runs without it")
        return None
    shutil.rmtree(state, ignore_errors=True)  # the database is new, so is the device
    enrolled = subprocess.run(
        [agent, "enroll", "--state-dir", str(state), "--server", run.url, "--code", run.code,
         "--label", "DEMO-LAPTOP"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if enrolled.returncode != 0:
        print(f"  local agent: enrolment failed: {enrolled.stderr.strip()}")
        return None
    print(f"  local agent: {enrolled.stdout.strip()}; monitoring 3B's lesson now")
    print(f"    what it checks and sends: {agent} explain --state-dir {state}")
    with (state / "agent.log").open("ab") as log:  # the child keeps its own copy of the handle
        return subprocess.Popen(
            [agent, "run", "--state-dir", str(state), "--sample-seconds", "5",
             "--grace-seconds", "10", "--upload-delay-max", "5"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, default=Path("var/demo"), help="demo files, replaced each run"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=8470, help="port to listen on [8470]")
    parser.add_argument("--no-agent", action="store_true", help="do not start a local agent")
    parser.add_argument("--for", dest="seconds", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    url = f"http://{args.host}:{args.port}"
    demo = prepare(args.dir.resolve(), url)
    server, serving = _serve(demo, args.host, args.port)
    print("lessonwatch demo: Demo school, with one lesson of group 3B in progress")
    print(f"  lesson report:  {url}/lessons/{demo.lesson}")
    print(f"  sign in as:     devries / {demo.passwords['devries']} (teacher of 3B)")
    others = ", ".join(f"{u} / {p}" for u, p in demo.passwords.items() if u != "devries")
    print(f"  also:           {others}")
    print(f"  what is checked (public page): {url}/privacy")
    print(f"  also to see:    {url}/groupchats (as leiding: the school's overview)")
    print(f"    as beheer:    {url}/admin/policy (an override), {url}/admin/timetable (a source),")
    print(f"                  {url}/admin/timetable/holidays, and {url}/admin/audit, where")
    print("                  leiding's view of per-device numbers stands with its reason")
    print(f"  collector:      {url} on SQLite {demo.database}")
    agent = None if args.no_agent else _start_agent(demo, args.dir.resolve() / "agent")
    print("Press Ctrl-C to stop.", flush=True)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stop.wait(args.seconds)
    if agent is not None:
        agent.terminate()  # the agent checkpoints the lesson and flushes on SIGTERM
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
    server.should_exit = True
    serving.join(timeout=10)
    return 0
