"""The per-user helper as real processes on real Unix sockets.

``lessonwatch-agent helper`` runs as a subprocess with its own HOME (the pupil's), against
either a listener in the test (to see every byte it sends) or a real ``lessonwatch-agent run``
subprocess with ``--helper-socket`` and the stand-in collector. This machine has no X display:
the foreground window comes from a stand-in ``xprop`` on PATH at that OS boundary, printing
what the real ``xprop`` prints (fixtures/linux/xprop-*.txt) for a real process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.channel import Hello, Idle, Monitor, Sample, decode, encode
from policies.wire import parse_summary
from tests.agent.conftest import REPO, AgentProcess, Processes, Spawn
from tests.agent.standin import Standin
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "linux"
SHOT = "Screenshot From 2026-11-24 - Chat met Sanne.png"
TITLE = "(2) WhatsApp – Chromium"
NOBODY = 65534


@pytest.fixture
def pupil(tmp_path: Path) -> Path:
    """The signed-in pupil's home, apart from the service's HOME."""
    home = tmp_path / "pupil"
    (home / "Pictures" / "Screenshots").mkdir(parents=True)
    return home


def fake_xprop(bin_dir: Path, pid: int) -> dict[str, str]:
    """A stand-in ``xprop`` printing the recorded answers, naming ``pid`` as the window's owner."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    props = (FIXTURES / "xprop-window-props.txt").read_text().replace("4242", str(pid))
    (bin_dir / "window.txt").write_text(props)
    shutil.copy(FIXTURES / "xprop-active-window.txt", bin_dir / "root.txt")
    script = bin_dir / "xprop"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-root" ]; then cat "{bin_dir}/root.txt"\n'
        f'else cat "{bin_dir}/window.txt"; fi\n'
    )
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "DISPLAY": ":0"}


@dataclass
class HelperProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def readable_copy(home: Path, user: int) -> Path:
    """The helper's code (``agent`` and ``policies``) copied into ``home``, owned by ``user``."""
    code = home / "code"
    for package in ("agent", "policies"):
        shutil.copytree(
            REPO / package, code / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for path in [code, *code.rglob("*")]:
        os.chown(path, user, user)
    return code


@pytest.fixture
def helpers(tmp_path: Path) -> Iterator[Callable[..., HelperProcess]]:
    started: list[HelperProcess] = []

    def start(
        address: Path, home: Path, extra: dict[str, str] | None = None, user: int | None = None
    ) -> HelperProcess:
        log = tmp_path / f"helper-{len(started)}.log"
        env = {
            "PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1", "XDG_CONFIG_HOME": str(home / ".config"), **(extra or {}),
        }  # fmt: skip
        python = sys.executable
        if user is not None:
            # Another user cannot reach this venv's interpreter under /root, nor the checkout
            # when it sits in a private folder (a CI clone in `mktemp -d`): Debian's python3
            # runs a copy of the two packages a helper imports, in that user's own home.
            python = "/usr/bin/python3"
            env["PYTHONPATH"] = str(readable_copy(home, user))
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [python, "-m", "agent", "helper", "--socket", str(address)],
                stdout=subprocess.DEVNULL, stderr=sink, env=env, cwd="/", user=user,
            )  # fmt: skip
        helper = HelperProcess(proc, log)
        started.append(helper)
        return helper

    yield start
    for helper in started:
        if helper.proc.poll() is None:
            helper.proc.kill()
            helper.proc.wait(timeout=10)


class Listener:
    """The service's end, played by the test: accepts one helper and records every byte."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        path.chmod(0o666)
        self.sock.listen(1)
        self.received = b""
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 20) -> None:
        self.sock.settimeout(timeout)
        self.conn, _ = self.sock.accept()

    def read(self, seconds: float) -> list[object]:
        """Everything that arrives within ``seconds``, decoded."""
        assert self.conn is not None
        deadline = time.monotonic() + seconds
        start = len(self.received)
        while (left := deadline - time.monotonic()) > 0:
            self.conn.settimeout(left)
            try:
                data = self.conn.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            self.received += data
        return [decode(x) for x in self.received[start:].split(b"\n") if x]

    def send(self, message: object) -> None:
        assert self.conn is not None
        self.conn.sendall(encode(message))  # type: ignore[arg-type]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.sock.close()


def switches(pid: int) -> int:
    """Context switches of all the process's threads: a process blocked in a read makes none."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def watches(pid: int) -> int:
    """inotify instances the process holds (watchdog's, during a lesson)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            continue
    return count


def test_helper_idles_without_waking_and_reports_only_kinds_in_a_lesson(
    channel_dir: Path,
    pupil: Path,
    tmp_path: Path,
    helpers: Callable[..., HelperProcess],
    processes: Processes,
) -> None:
    """Outside a lesson: a hello, then nothing, no wake-ups, no watchers. In a lesson: samples
    with the foreground app and title (asked for) and new captures by extension only; on idle
    it stops. Not a byte names the file, its folder or the pupil's home."""
    listener = Listener(channel_dir / "helper.sock")
    browser = processes.start("chromium")
    helper = helpers(channel_dir / "helper.sock", pupil, fake_xprop(tmp_path / "xbin", browser.pid))
    try:
        listener.accept()
        assert listener.read(1.0) == [Hello()]
        time.sleep(0.5)
        before = switches(helper.proc.pid)
        assert listener.read(2.5) == []
        assert switches(helper.proc.pid) == before, "the idle helper woke up"
        assert watches(helper.proc.pid) == 0

        listener.send(Monitor("lesson-nonce-0001", time.time() + 60, 1, True, (".png",)))
        first = listener.read(1.5)
        assert first and all(isinstance(x, Sample) for x in first)
        assert watches(helper.proc.pid) == 1
        (pupil / "Pictures" / "Screenshots" / SHOT).write_bytes(b"\x89PNG\r\n\x1a\n")
        during = first + listener.read(2.5)
        samples = [x for x in during if isinstance(x, Sample)]
        assert [s.n for s in samples] == list(range(1, len(samples) + 1))
        assert any(s.captures == (".png",) for s in samples)
        last = samples[-1]
        assert last.lesson == "lesson-nonce-0001" and last.capture_state == "ok"
        assert last.app is not None and last.app.name == "chromium" and last.app.exe == "chromium"
        assert last.title == TITLE and last.title_state == "ok"

        listener.send(Idle())
        time.sleep(0.5)
        listener.read(0.2)
        assert listener.read(2.5) == [], "samples after idle"
        assert watches(helper.proc.pid) == 0
        for private in (b"Screenshot", b"Sanne", str(pupil).encode(), str(tmp_path).encode()):
            assert private not in listener.received
    finally:
        listener.close()
    assert "Sanne" not in helper.output() and "WhatsApp" not in helper.output()


def test_titles_are_not_sent_when_the_policy_has_them_off(
    channel_dir: Path,
    pupil: Path,
    tmp_path: Path,
    helpers: Callable[..., HelperProcess],
    processes: Processes,
) -> None:
    """window_title_probe off: the app crosses the channel, the title does not."""
    listener = Listener(channel_dir / "helper.sock")
    browser = processes.start("chromium")
    helpers(channel_dir / "helper.sock", pupil, fake_xprop(tmp_path / "xbin", browser.pid))
    try:
        listener.accept()
        listener.read(0.5)
        listener.send(Monitor("lesson-nonce-0002", time.time() + 60, 1, False, (".png",)))
        samples = [x for x in listener.read(2.5) if isinstance(x, Sample)]
        assert samples and all(s.title is None and s.title_state == "off" for s in samples)
        assert samples[-1].app is not None and samples[-1].app.name == "chromium"
        assert b"WhatsApp" not in listener.received
    finally:
        listener.close()


# -- against the real agent --------------------------------------------------------------------


def start_agent(
    tmp_path: Path, enrolled: Path, address: Path, *extra: str, spawn: Spawn = subprocess.Popen
) -> AgentProcess:
    return AgentProcess(
        enrolled,
        tmp_path / f"agent-{time.monotonic_ns()}.log",
        "--sample-seconds", "1", "--grace-seconds", "2", "--upload-delay-max", "0",
        "--helper-socket", str(address), "--helper-user", str(os.geteuid()), *extra,
        spawn=spawn,
    )  # fmt: skip


def add_lesson(collector: Standin, lead: float, length: float) -> tuple[str, datetime, datetime]:
    start = datetime.now(UTC) + timedelta(seconds=lead)
    end = start + timedelta(seconds=length)
    return collector.add_lesson("3B", start, end), start, end


def until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def test_helper_reports_reach_the_collector_and_killing_it_shows_as_unavailable(
    collector: Standin,
    enrolled: Path,
    channel_dir: Path,
    pupil: Path,
    tmp_path: Path,
    helpers: Callable[..., HelperProcess],
    processes: Processes,
) -> None:
    """Lesson 1 with the helper: the pupil's screenshot and the browser title are findings and
    both probes are ok. Lesson 2: the helper is killed mid-lesson, and the coverage says
    'unavailable' for what the service depends on it for. No file name or title is uploaded."""
    collector.state.policy["settings"]["window_title_probe"] = True
    first, start1, _ = add_lesson(collector, lead=4.0, length=6.0)
    second, start2, end2 = add_lesson(collector, lead=11.0, length=6.0)
    address = channel_dir / "helper.sock"
    agent = start_agent(tmp_path, enrolled, address, "--helper-required", spawn=processes.spawn)
    try:
        wait_for(address.exists, timeout=15)
        assert stat.S_IMODE(address.stat().st_mode) == 0o666
        browser = processes.start("chromium")
        helper = helpers(address, pupil, fake_xprop(tmp_path / "xbin", browser.pid))
        wait_for(lambda: "helper of uid 0 connected" in agent.output(), timeout=15)
        until(start1 + timedelta(seconds=1.5))
        # status says whether a helper is connected (written at the lesson's start).
        from agent.status import read_status

        assert (read_status(enrolled / "status.v1.json") or {}).get("helper") == "connected"
        (pupil / "Pictures" / "Screenshots" / SHOT).write_bytes(b"\x89PNG\r\n\x1a\n")
        until(start2 + timedelta(seconds=2))
        helper.proc.kill()
        helper.proc.wait(timeout=10)
        until(end2)
        wait_for(lambda: len(collector.reports()) == 2, timeout=20)
        assert agent.proc.poll() is None
    finally:
        agent.terminate()
    reports = {r["lesson_id"]: r for r in collector.reports()}
    for report in reports.values():
        parse_summary(report)
    one, two = reports[first], reports[second]
    found = {f["family"]: f["category"] for f in one["findings"]}
    assert found.get("image_file") == "capture_file" and found.get("whatsapp") == "social_media"
    assert one["coverage"]["probes"]["capture_files"] == "ok"
    assert one["coverage"]["probes"]["window_title"] == "ok"
    assert two["coverage"]["probes"]["capture_files"] == "unavailable"
    assert two["coverage"]["probes"]["window_title"] == "unavailable"
    assert two["coverage"]["probes"]["processes"] == "ok"
    traffic = collector.traffic()
    for private in (
        b"Screenshot",
        b"Sanne",
        TITLE.encode(),
        b"WhatsApp \xe2\x80\x93",
        str(pupil).encode(),
    ):
        assert private not in traffic
    log = agent.output()
    assert "Sanne" not in log and "WhatsApp" not in log


def test_a_helper_of_another_user_is_refused_and_the_console_users_is_heard(
    enrolled: Path,
    channel_dir: Path,
    pupil: Path,
    tmp_path: Path,
    helpers: Callable[..., HelperProcess],
) -> None:
    """The console user is root here (--helper-user 0): a helper running as nobody is refused
    and told so; root's helper connects."""
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("starting a helper as another user needs root (CI runs as root)")
    address = channel_dir / "helper.sock"
    agent = start_agent(tmp_path, enrolled, address)
    other_home = Path(tempfile.mkdtemp(prefix="lw-nobody-", dir="/tmp"))
    try:
        wait_for(address.exists, timeout=15)
        os.chown(other_home, NOBODY, NOBODY)
        stranger = helpers(address, other_home, user=NOBODY)
        wait_for(lambda: f"uid {NOBODY} refused (not the console user)" in agent.output(), 15)
        wait_for(lambda: "refused this helper (not the console user)" in stranger.output(), 15)
        assert "connected" not in agent.output()
        helpers(address, pupil)
        wait_for(lambda: "helper of uid 0 connected" in agent.output(), timeout=15)
        assert stranger.proc.poll() is None  # it waits to try again, it does not spin or die
    finally:
        agent.terminate()
        shutil.rmtree(other_home, ignore_errors=True)


def hostile(address: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(address))
    sock.settimeout(10)
    return sock


def closed_by_service(sock: socket.socket) -> bool:
    """The service closed the connection (EOF), whatever it said first."""
    try:
        while data := sock.recv(65536):
            del data
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


def test_hostile_peers_are_disconnected_and_sampling_goes_on(
    collector: Standin,
    enrolled: Path,
    channel_dir: Path,
    tmp_path: Path,
    processes: Processes,
) -> None:
    """Malformed, oversized, other-version, flooding, silent and replaying peers are each
    closed and logged by kind only; the agent keeps sampling and reports the lesson."""
    lesson_id, start, end = add_lesson(collector, lead=3.0, length=12.0)
    address = channel_dir / "helper.sock"
    agent = start_agent(tmp_path, enrolled, address, spawn=processes.spawn)
    processes.start("telegram-desktop")
    secret = b"geheim-van-sanne"
    try:
        wait_for(address.exists, timeout=15)
        until(start + timedelta(seconds=0.5))
        silent = hostile(address)
        for line in (
            b"{not json " + secret + b"\n",
            b'{"v":1,"type":"hello","x":"' + secret + b"x" * 5000 + b'"}\n',
            b"y" * 9000,  # no newline at all
            b'{"v":2,"type":"hello","note":"' + secret + b'"}\n',
            encode(Hello()) * 40,
        ):
            sock = hostile(address)
            sock.sendall(line)
            assert closed_by_service(sock), line[:40]
        # A replay: a proper hello, the monitor it is told, a sample, and that sample again.
        sock = hostile(address)
        sock.sendall(encode(Hello()))
        told = decode(sock.recv(4096).split(b"\n")[0])
        assert isinstance(told, Monitor)
        one = encode(Sample(told.lesson, 1, None, "ok", None, "off", (), "ok"))
        sock.sendall(one)
        time.sleep(0.3)
        sock.sendall(one)
        assert closed_by_service(sock)
        # A sample of a lesson this connection was never told about.
        sock = hostile(address)
        sock.sendall(encode(Hello()))
        sock.recv(4096)
        sock.sendall(encode(Sample("an-old-lesson-nonce", 9, None, "ok", None, "off", (), "ok")))
        assert closed_by_service(sock)
        assert closed_by_service(silent), "a peer that never spoke stays connected"
        until(end)
        wait_for(lambda: len(collector.reports()) == 1, timeout=20)
        assert agent.proc.poll() is None
    finally:
        agent.terminate()
    (report,) = collector.reports()
    assert report["lesson_id"] == lesson_id
    assert report["coverage"]["samples"] >= 9
    assert {f["family"] for f in report["findings"]} >= {"telegram"}
    log = agent.output()
    for kind in ("malformed", "oversized", "version", "flood", "replay", "silent"):
        assert f"disconnected ({kind})" in log, kind
    assert secret.decode() not in log
    assert "Traceback" not in log
    assert json.dumps(report).find("geheim") == -1


def test_the_agent_without_a_helper_socket_opens_no_channel(
    enrolled: Path, tmp_path: Path, channel_dir: Path
) -> None:
    """No --helper-socket: nothing listens, as before the helper existed."""
    agent = AgentProcess(enrolled, tmp_path / "plain.log")
    try:
        wait_for(lambda: "lessonwatch-agent" in agent.output(), timeout=15)
        time.sleep(1)
        assert list(channel_dir.iterdir()) == []
        assert "helper channel" not in agent.output()
    finally:
        assert agent.terminate(signal.SIGTERM) == 0


def test_a_channel_that_cannot_be_opened_is_logged_and_the_agent_runs_on(
    enrolled: Path, tmp_path: Path
) -> None:
    """A channel folder others can write is refused: one log line, no socket, the agent runs."""
    shared = Path(tempfile.mkdtemp(prefix="lw-shared-", dir="/tmp"))
    shared.chmod(0o777)
    agent = start_agent(tmp_path, enrolled, shared / "helper.sock")
    try:
        wait_for(lambda: "helper channel not opened: OSError" in agent.output(), timeout=15)
        time.sleep(1)
        assert agent.proc.poll() is None and list(shared.iterdir()) == []
    finally:
        assert agent.terminate() == 0
        shutil.rmtree(shared, ignore_errors=True)


class _PairLink:
    """The helper's end of a socket pair, as a ``Link``."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float | None) -> bytes | None:
        self.sock.settimeout(timeout)
        return self.sock.recv(8192)

    def close(self) -> None:
        self.sock.close()


def test_a_refusal_that_closed_the_channel_before_the_hello_is_read_as_a_refusal() -> None:
    """The service refuses and closes at once; the hello then meets a closed socket (EPIPE),
    and the helper must still read the refusal (and wait its 60 s), not retry as if lost."""
    from agent.channel import Refused
    from agent.helper import ChannelRefused, Helper

    ours, service = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    service.sendall(encode(Refused("not the console user")))
    service.close()
    link = _PairLink(ours)
    with pytest.raises(ChannelRefused, match="not the console user"):
        Helper(link, lambda: None, lambda lesson: None).serve()  # type: ignore[arg-type,return-value]
    link.close()
