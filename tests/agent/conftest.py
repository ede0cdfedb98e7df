"""Fixtures for the agent tests: a collector on loopback, an enrolled state dir, real processes.

``collector`` is the one place that decides which collector the tests talk to. Today it is the
stand-in in ``standin.py``; when the real collector (issue 3) lands, this fixture starts it on
loopback instead and wraps it in the same test-facing methods (``url``, ``enrolment_code``,
``add_lesson``, ``grant``, ``fail``, ``down``/``up``, ``reports``, ``traffic``), and every test
here runs against it unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from agent.cli import main as agent_main
from tests.agent.standin import Standin
from tests.support import process_world

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def collector() -> Iterator[Standin]:
    standin = Standin()
    yield standin
    standin.down()


def move_to_another_machine(state_dir: Path) -> None:
    """Make the identity in ``state_dir`` look enrolled on another machine, as a disk image
    made there and cloned onto this one would carry it."""
    from agent import identity

    path = state_dir / "identity.v1.json"
    data = json.loads(path.read_text())
    data["machine_check"] = identity.keyed(data["machine_salt"], "the-machine-of-the-image")
    path.write_text(json.dumps(data))


@pytest.fixture
def channel_dir() -> Iterator[Path]:
    """A socket directory other users can reach (pytest's own tmp dirs are 0700): where a test
    agent listens for its helper and browser hosts."""
    path = Path(tempfile.mkdtemp(prefix="lw-channel-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def enrolled(collector: Standin, state_dir: Path) -> Path:
    """A state dir enrolled with the collector, in group 3B."""
    code = collector.enrolment_code("3B")
    assert (
        agent_main(
            ["enroll", "--state-dir", str(state_dir), "--server", collector.url, "--code", code]
        )
        == 0
    )
    return state_dir


Spawn = Callable[..., "subprocess.Popen[bytes]"]


class Processes:
    """Harmless real processes (copies of ``sleep``) under names of our choosing."""

    def __init__(self, root: Path, spawn: Spawn = subprocess.Popen):
        self.root = root
        self.spawn = spawn
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        folder = self.root / f"bin-{len(self.running)}"
        folder.mkdir(parents=True)
        exe = folder / name
        shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
        proc = self.spawn([str(exe), "300"])
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(timeout=5)

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                self.stop(proc)


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spawn]:
    """How this test starts the processes an agent may see: in a process world of its own.

    Agents in this test process read the world's /proc too (psutil's ``PROCFS_PATH``). Without
    namespaces, plain ``Popen``: those tests then share one worker (``tests/conftest.py``).
    """
    if not process_world.available():
        yield subprocess.Popen
        return
    world = process_world.ProcessWorld()
    monkeypatch.setattr(psutil, "PROCFS_PATH", world.proc_root)
    yield world.popen
    world.close()


@pytest.fixture
def processes(tmp_path: Path, spawn: Spawn) -> Iterator[Processes]:
    procs = Processes(tmp_path / "procs", spawn)
    yield procs
    procs.stop_all()


class AgentProcess:
    """``lessonwatch-agent run`` as a real subprocess, with its stderr in a file."""

    def __init__(self, state_dir: Path, log: Path, *args: str, spawn: Spawn = subprocess.Popen):
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with log.open("ab") as sink:
            self.proc = spawn(
                [sys.executable, "-m", "agent", "run", "--state-dir", str(state_dir), *args],
                stdout=subprocess.DEVNULL,
                stderr=sink,
                env=env,
                cwd=REPO,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def agent_process(tmp_path: Path, spawn: Spawn) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(state_dir: Path, *args: str) -> AgentProcess:
        log = tmp_path / f"agent-{len(started)}.log"
        agent = AgentProcess(state_dir, log, *args, spawn=spawn)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.proc.poll() is None:
            agent.kill()
