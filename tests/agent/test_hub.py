"""The service's side of the helper channel as decisions: who is heard, what counts, what is
told; and the session facts behind "the console user" (Linux, macOS, Windows)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
from pathlib import Path

import pytest

from agent import peers
from agent.channel import Hello, Idle, Monitor, Refused, Sample, decode, encode
from agent.hub import HELLO_SECONDS, Hub, helper_status
from agent.probes import Unavailable
from agent.probes.helped import HelpedCapture, HelpedProcesses, HelpedWindow, source
from agent.probes.window_macos import app_of
from agent.probes.window_windows import owner_pid
from policies import CaptureFileSeen, ProcessSeen, WindowSeen

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1000.0

# -- console user ----------------------------------------------------------------------------


def test_logind_records_give_the_console_user_only(tmp_path: Path) -> None:
    """Of a desktop, a greeter and an ssh session (recorded layout), only the desktop counts."""
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for i, name in enumerate(
        ("logind-session-active-wayland", "logind-session-greeter", "logind-session-ssh")
    ):
        shutil.copy(FIXTURES / "linux" / name, sessions / str(i + 2))
        os.mkfifo(sessions / f"{i + 2}.ref")
    assert peers.read_console_uids(sessions) == {1001}
    assert peers.read_console_uids(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    ("record", "uids"),
    [
        ({"UID": "1000", "ACTIVE": "1", "TYPE": "x11", "CLASS": "user"}, {1000}),
        ({"UID": "1000", "ACTIVE": "1", "TYPE": "tty", "SEAT": "seat0"}, {1000}),
        ({"UID": "1000", "ACTIVE": "0", "TYPE": "x11"}, set()),  # switched away (fast user switch)
        ({"UID": "1000", "ACTIVE": "1", "TYPE": "tty"}, set()),  # a text login without a seat
        ({"UID": "1000", "ACTIVE": "1", "TYPE": "x11", "REMOTE": "1"}, set()),  # xrdp and the like
        ({"UID": "117", "ACTIVE": "1", "TYPE": "wayland", "CLASS": "greeter"}, set()),
        ({"UID": "x", "ACTIVE": "1", "TYPE": "x11"}, set()),
        ({"ACTIVE": "1", "TYPE": "x11"}, set()),
    ],
)
def test_console_uids(record: dict[str, str], uids: set[int]) -> None:
    """Active, local, graphical user sessions only."""
    assert peers.console_uids([record]) == uids


@pytest.mark.parametrize(
    ("peer", "console", "ok"),
    [(1001, {1001}, True), (1002, {1001}, False), (None, {1001}, False), (0, set(), False)],
)
def test_accepted(peer: int | None, console: set[int], ok: bool) -> None:
    """A helper is heard only when its uid is known and is the console user's."""
    assert peers.accepted(peer, console) is ok


@pytest.mark.parametrize(
    ("client", "console", "ok"),
    [
        (2, 2, True),
        (3, 2, False),  # another signed-in user, switched away
        (0, 0, False),  # session 0: services, never a helper
        (2, peers.NO_CONSOLE_SESSION, False),  # a session attaching or detaching
        (None, 2, False),  # GetNamedPipeClientSessionId failed
    ],
)
def test_windows_session_check(client: int | None, console: int, ok: bool) -> None:
    """Windows: the pipe client's session must be the active console session."""
    assert peers.session_accepted(client, console) is ok


def test_macos_console_owner() -> None:
    """The owner of /dev/console is the console user; root owns it at the login window."""
    assert peers.macos_console_uid(501) == {501}
    assert peers.macos_console_uid(0) == frozenset()


def test_macos_xucred_is_decoded() -> None:
    """struct xucred (version 0, uid, ngroups, groups[16]) as LOCAL_PEERCRED returns it."""
    raw = struct.pack("=IIh", 0, 501, 2) + struct.pack("=16I", 20, 12, *([0] * 14))
    assert peers.xucred_uid(raw) == 501
    assert peers.xucred_uid(struct.pack("=II", 1, 501)) is None  # unknown version
    assert peers.xucred_uid(b"\x00") is None


def test_peer_uid_of_a_real_socket() -> None:
    """SO_PEERCRED names the uid at the other end of a Unix socket."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peers.peer_uid(a) == os.geteuid()


# -- hub decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connected", "monitor_at", "sample_at", "now", "status"),
    [
        (False, T0, T0, T0, "absent"),
        (True, None, None, T0, "absent"),  # no lesson
        (True, T0, None, T0 + 1, "pending"),  # just told
        (True, T0, None, T0 + 20, "absent"),  # told, never answered: hung
        (True, T0, T0 + 1, T0 + 2, "fresh"),
        (True, T0, T0 + 1, T0 + 1 + 2 * 15 + 2, "fresh"),
        (True, T0, T0 + 1, T0 + 1 + 2 * 15 + 3, "absent"),  # stopped answering
    ],
)
def test_helper_status(
    connected: bool, monitor_at: float | None, sample_at: float | None, now: float, status: str
) -> None:
    """Fresh within two intervals; pending for one interval after being told; else absent."""
    assert helper_status(connected, 15, monitor_at, sample_at, now) == status


@pytest.mark.parametrize(
    ("status", "state", "required", "expected"),
    [
        ("fresh", "ok", False, "helper"),
        ("fresh", "ok", True, "helper"),
        ("fresh", "unavailable", False, "own"),
        ("fresh", "unavailable", True, "unavailable"),
        ("pending", "unavailable", False, "own"),
        ("pending", "unavailable", True, "helper"),
        ("absent", "unavailable", False, "own"),
        ("absent", "unavailable", True, "unavailable"),
    ],
)
def test_which_source_a_helped_probe_reads(
    status: str, state: str, required: bool, expected: str
) -> None:
    """Linux keeps its own probes; where the helper is required, no helper is 'unavailable'."""
    assert source(status, state, required) == expected  # type: ignore[arg-type]


def connect(hub: Hub, key: int = 1, now: float = T0) -> None:
    assert hub.opened(key, 1001, True, now) is None
    assert hub.received(key, encode(Hello()), now)


def told(hub: Hub, key: int = 1) -> list[object]:
    return [decode(line[:-1]) for line in hub.outgoing(key) or []]


def sample(nonce: str, n: int, **fields: object) -> bytes:
    return encode(Sample(nonce, n, **fields))  # type: ignore[arg-type]


def test_a_refused_peer_is_told_why_and_never_registered() -> None:
    """Not the console user: one 'refused' line, and nothing it sends is read."""
    hub = Hub(required=True)
    refusal = hub.opened(1, 1002, False, T0)
    assert refusal is not None and decode(refusal[:-1]) == Refused("not the console user")
    assert hub.received(1, encode(Hello()), T0) is False and hub.helper is None


def test_a_helper_is_told_to_monitor_and_to_go_idle() -> None:
    """Connected outside a lesson it is told nothing; a lesson sends monitor, its end idle."""
    hub = Hub(required=True)
    connect(hub)
    assert told(hub) == []
    hub.monitor(T0 + 50, 1, False, [".png", ".PNG"], now=T0)
    (monitor,) = told(hub)
    assert isinstance(monitor, Monitor) and monitor.extensions == (".png",)
    hub.idle()
    assert told(hub) == [Idle()]
    hub.idle()
    assert told(hub) == []


def test_a_helper_connecting_mid_lesson_is_told_at_once() -> None:
    """The lesson is already on: the hello is answered with monitor, and it is pending."""
    hub = Hub(required=True)
    hub.monitor(T0 + 50, 1, False, [".png"], now=T0)
    connect(hub, now=T0 + 30)
    assert isinstance(told(hub)[0], Monitor)
    assert hub.view(T0 + 31).status == "pending"
    assert hub.expired(T0 + 31) == []


def test_samples_feed_the_view_and_the_captures_once() -> None:
    """A sample makes the helper fresh; captures are taken once, filtered by the lesson's kinds."""
    hub = Hub(required=True)
    connect(hub)
    hub.monitor(T0 + 50, 1, False, [".png"], now=T0)
    (monitor,) = told(hub)
    assert isinstance(monitor, Monitor)
    app = ProcessSeen(name="obs", exe="obs")
    line = sample(monitor.lesson, 1, app=app, app_state="ok", captures=(".png", ".mkv"),
                  capture_state="ok")  # fmt: skip
    assert hub.received(1, line, T0 + 1)
    view = hub.view(T0 + 1.5)
    assert view.status == "fresh" and view.app is not None and view.app.app == app
    assert hub.take_captures(T0 + 1.5) == ("fresh", "ok", [".png"])
    assert hub.take_captures(T0 + 1.6) == ("fresh", "ok", [])


def test_a_title_not_asked_for_is_not_kept() -> None:
    """The policy has titles off: a title a peer sends anyway is dropped on arrival."""
    hub = Hub(required=True)
    connect(hub)
    hub.monitor(T0 + 50, 1, False, [".png"], now=T0)
    (monitor,) = told(hub)
    assert isinstance(monitor, Monitor)
    hub.received(1, sample(monitor.lesson, 1, title="Chat met Sanne", title_state="ok"), T0 + 1)
    view = hub.view(T0 + 1)
    assert view.app is not None and view.app.title is None and view.app.title_state == "off"


def test_replays_close_the_connection() -> None:
    """A sample number used before, or a lesson nonce never given, is a replay."""
    hub = Hub(required=True)
    connect(hub)
    hub.monitor(T0 + 50, 1, False, [".png"], now=T0)
    (monitor,) = told(hub)
    assert isinstance(monitor, Monitor)
    assert hub.received(1, sample(monitor.lesson, 1), T0 + 1)
    assert hub.received(1, sample(monitor.lesson, 1), T0 + 2) is False
    assert hub.helper is None and hub.view(T0 + 2).status == "absent"
    connect(hub, key=2, now=T0 + 3)
    told(hub, 2)
    assert hub.received(2, sample("made-up-lesson-nonce", 5), T0 + 4) is False


def test_a_sample_of_the_previous_lesson_is_late_not_hostile() -> None:
    """Sent just before the helper heard 'idle': ignored, the connection stays."""
    hub = Hub(required=True)
    connect(hub)
    hub.monitor(T0 + 50, 1, False, [".png"], now=T0)
    (monitor,) = told(hub)
    assert isinstance(monitor, Monitor)
    hub.idle()
    assert hub.received(1, sample(monitor.lesson, 1, captures=(".png",)), T0 + 1)
    assert hub.helper == 1 and hub.take_captures(T0 + 1)[2] == []


def test_the_newest_helper_wins() -> None:
    """A second helper that says hello replaces the first, which is dropped."""
    hub = Hub(required=True)
    connect(hub, key=1)
    connect(hub, key=2)
    assert hub.helper == 2 and hub.outgoing(1) is None


def test_the_agent_hears_whenever_a_helper_comes_or_goes() -> None:
    """``on_helper_change`` runs on a hello, a newer helper, a close, a protocol error and a
    helper gone silent (so ``status`` is rewritten), and never for a peer that was no helper."""
    hub = Hub(required=True)
    changes: list[int | None] = []
    hub.on_helper_change = lambda: changes.append(hub.helper)
    assert hub.opened(1, 1001, True, T0) is None
    hub.closed(1)  # gone before its hello: it never was the helper
    assert changes == []
    connect(hub, key=2)
    connect(hub, key=3)  # the newest helper wins
    hub.closed(3)
    assert changes == [2, 3, None]
    connect(hub, key=4)
    assert hub.received(4, b"not json\n", T0) is False  # a protocol error drops it
    connect(hub, key=5)
    hub.monitor(T0 + 500, 2, False, [".png"], now=T0)
    assert hub.expired(T0 + 3 * 2 + 6) == [5]
    assert changes == [2, 3, None, 4, None, 5, None]


def test_silent_peers_expire() -> None:
    """No hello within the limit, or no sample for three intervals in a lesson: closed."""
    hub = Hub(required=True)
    assert hub.opened(1, 1001, True, T0) is None
    assert hub.deadline() == pytest.approx(T0 + HELLO_SECONDS + 0.05)
    assert hub.expired(T0 + 1) == []
    assert hub.expired(T0 + HELLO_SECONDS + 0.1) == [1]
    connect(hub, key=2, now=T0)
    assert hub.deadline() is None  # connected and idle: nothing can expire, nothing wakes
    hub.monitor(T0 + 500, 2, False, [".png"], now=T0)
    assert hub.expired(T0 + 3 * 2 + 4) == []
    assert hub.expired(T0 + 3 * 2 + 6) == [2]


def test_too_many_silent_connections_are_refused() -> None:
    """Connections that never say hello cannot pile up."""
    hub = Hub(required=True)
    for key in range(8):
        assert hub.opened(key, 1001, True, T0) is None
    refusal = hub.opened(99, 1001, True, T0)
    assert refusal is not None and json.loads(refusal)["reason"] == "busy"


# -- helped probes ---------------------------------------------------------------------------


class Own:
    def __init__(self, name: str, seen: list[object] | Exception):
        self.name, self.seen, self.sampled = name, seen, 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self) -> list[object]:
        self.sampled += 1
        if isinstance(self.seen, Exception):
            raise self.seen
        return list(self.seen)


def lesson_hub(required: bool, titles: bool = True) -> tuple[Hub, str]:
    hub = Hub(required)
    connect(hub)
    hub.monitor(T0 + 50, 1, titles, [".png"], now=T0)
    (monitor,) = told(hub)
    assert isinstance(monitor, Monitor)
    return hub, monitor.lesson


def test_one_screenshot_seen_by_both_counts_once() -> None:
    """The helper reports the capture: the service's own watcher is drained, not added."""
    hub, nonce = lesson_hub(required=False)
    hub.received(1, sample(nonce, 1, captures=(".png",), capture_state="ok"), T0 + 1)
    own = Own("capture_files", [CaptureFileSeen("new.png")])
    probe = HelpedCapture(own, hub, required=False, clock=lambda: T0 + 1.2)  # type: ignore[arg-type]
    assert probe.sample() == [CaptureFileSeen("new.png")] and own.sampled == 1
    assert probe.sample() == []  # taken once; the own watcher's copy was dropped
    hub.closed(1)
    assert probe.sample() == [CaptureFileSeen("new.png")]  # no helper: the service's own again


def test_required_capture_without_a_helper_is_unavailable() -> None:
    """Where the service depends on the helper, no helper means 'unavailable'."""
    hub, _ = lesson_hub(required=True)
    probe = HelpedCapture(Own("capture_files", []), hub, required=True, clock=lambda: T0 + 20)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        probe.sample()


def test_foreground_app_and_title_from_the_helper() -> None:
    """The helper's app joins the process list; its title is a browser window when it is one."""
    hub, nonce = lesson_hub(required=True)
    app = ProcessSeen(name="chromium", exe="chromium")
    hub.received(1, sample(nonce, 1, app=app, app_state="ok", title="WhatsApp - Chromium",
                           title_state="ok"), T0 + 1)  # fmt: skip
    procs = HelpedProcesses(Own("processes", []), hub, True, clock=lambda: T0 + 1)  # type: ignore[arg-type]
    assert [p.name for p in procs.sample()] == ["chromium"]  # type: ignore[attr-defined]
    window = HelpedWindow(Own("window_title", Unavailable()), hub, True, clock=lambda: T0 + 1)  # type: ignore[arg-type]
    assert window.sample() == [WindowSeen("WhatsApp - Chromium", browser=True, platform="linux")]


def test_titles_a_helper_cannot_read_are_unavailable() -> None:
    """macOS without the Accessibility grant: the app is known, the title is 'unavailable'."""
    hub, nonce = lesson_hub(required=True)
    hub.received(1, sample(nonce, 1, app=ProcessSeen(bundle_id="com.google.Chrome"),
                           app_state="ok", title_state="unavailable"), T0 + 1)  # fmt: skip
    window = HelpedWindow(Own("window_title", Unavailable()), hub, True, clock=lambda: T0 + 1)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        window.sample()


# -- per-OS foreground decisions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_pid", "name", "children", "owner"),
    [
        (10, "chrome.exe", [10, 11], 10),
        (10, "ApplicationFrameHost.exe", [10, 42, 43], 42),  # a UWP app behind its frame
        (10, "ApplicationFrameHost.exe", [10], 10),
        (10, None, [], 10),
    ],
)
def test_windows_uwp_owner(
    frame_pid: int, name: str | None, children: list[int], owner: int
) -> None:
    """UWP windows belong to ApplicationFrameHost.exe; the app is the child of another process."""
    assert owner_pid(frame_pid, name, children) == owner


def test_macos_frontmost_application() -> None:
    """What NSRunningApplication gives (bundle id, name, executable) becomes the app."""
    info = {"bundle_id": "com.burbn.instagram", "name": "Instagram", "exe": None}
    assert app_of(info) == ProcessSeen(
        name="Instagram", bundle_id="com.burbn.instagram", platform="macos"
    )
    assert app_of({}) is None


@pytest.mark.parametrize("titles", [False, True])
def test_explain_tells_pupils_what_the_helper_sends(titles: bool) -> None:
    """explain names the helper, what it looks at, that it stays on the device; titles only
    when the school's policy turns them on."""
    import dataclasses

    from agent.explain import helper_text
    from policies import load_policy

    policy = load_policy()
    policy = dataclasses.replace(
        policy, settings=dataclasses.replace(policy.settings, window_title_probe=titles)
    )
    text = "\n".join(helper_text(policy, "en"))
    assert "lessonwatch-agent helper" in text and "never the file's name" in text
    assert "only to the lessonwatch service on this device" in text
    assert ("window titles" in text) is titles
    assert ("venstertitel" in "\n".join(helper_text(policy, "nl"))) is titles


# -- the Unix socket ---------------------------------------------------------------------------


def test_the_socket_replaces_a_stale_one_with_its_final_mode(tmp_path: Path) -> None:
    """A stale socket file is replaced; the path appears already 0666 and listening; closing
    removes it."""
    from agent.hub_posix import SocketHub

    folder = tmp_path / "run"
    folder.mkdir(mode=0o755)
    path = folder / "helper.sock"
    path.write_text("stale")
    channel = SocketHub(Hub(required=False), path, lambda: frozenset({os.geteuid()}))
    channel.start()
    try:
        assert path.is_socket() and (path.stat().st_mode & 0o777) == 0o666
        assert [p.name for p in folder.iterdir()] == ["helper.sock"]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))
            client.sendall(encode(Hello()))
    finally:
        channel.close()
    assert not path.exists()


def test_the_socket_refuses_a_folder_others_can_write(tmp_path: Path) -> None:
    """Where another account could swap the socket, the service does not listen at all."""
    from agent.hub_posix import SocketHub

    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    channel = SocketHub(Hub(required=False), folder / "helper.sock", frozenset)
    with pytest.raises(OSError, match="not writable"):
        channel.start()
    assert list(folder.iterdir()) == []
