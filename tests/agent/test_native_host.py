"""Paired mode without processes: the native host's framing and validation, the hub's browser
peers, and the precedence that keeps one finding per family whatever saw it."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import struct
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent import summary
from agent.channel import BrowserHello, Focus, Hello, Idle, Monitor, ProtocolError, decode, encode
from agent.hub import MAX_BROWSERS, TAB_FRESH, Hub, fresh_tabs
from agent.native_host import (
    MAX_IN,
    Dropped,
    Frames,
    Oversized,
    Relay,
    Tab,
    frame,
    origin_allowed,
    parse_focus,
)
from agent.probes.helped import HelpedProcesses, HelpedWindow, browser_precedence
from policies import (
    LessonContext,
    Observation,
    ProcessSeen,
    TabSeen,
    WindowSeen,
    compile_policy,
    evaluate,
    load_policy,
)

NOW = datetime(2026, 11, 24, 8, 30, 0, tzinfo=UTC)
T0 = 1000.0
INSTAGRAM = {"category": "social_media", "app": "instagram"}
CATALOG = {"instagram": "social_media", "tiktok": "social_media", "obs": "screen_recording"}


def body(**fields: Any) -> bytes:
    message = {"v": 1, "type": "focus", "at": "2026-11-24T08:30:00Z", "match": INSTAGRAM}
    message.update(fields)
    return json.dumps(message).encode()


# -- framing ---------------------------------------------------------------------------------


def test_frames_are_a_native_length_then_json_and_may_arrive_in_pieces() -> None:
    """Two messages split at every byte come out whole, in order."""
    data = frame({"a": 1}) + frame({"b": "x" * 300})
    assert data[:4] == struct.pack("=I", 7)
    frames, out = Frames(), []
    for i in range(len(data)):
        out += frames.feed(data[i : i + 1])
    assert [json.loads(x) for x in out] == [{"a": 1}, {"b": "x" * 300}]


@pytest.mark.parametrize(
    ("size", "closes"),
    [(MAX_IN, False), (MAX_IN + 1, True), (64 * 2**20, True), (2**32 - 1, True)],
)
def test_a_frame_over_1_kb_closes_before_its_body_is_read(size: int, closes: bool) -> None:
    """The declared length decides: nothing of an oversized body is buffered first."""
    header = struct.pack("=I", size)
    if closes:
        with pytest.raises(Oversized):
            Frames().feed(header)
    else:
        assert Frames().feed(header + b"{" * size) == [b"{" * size]


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # What the extension sends: a catalog match, or null.
        (body(), Tab("social_media", "instagram")),
        (body(match=None), Tab(None, None)),
        (body(at="2026-11-24T08:31:59Z"), Tab("social_media", "instagram")),  # 119 s: one clock
        # Dropped and counted, by kind.
        (b"not json", "malformed"),
        (b"[1]", "malformed"),
        (b'{"v": 1, "type": "focus", "at": "2026-11-24T08:30:00Z", "match": {"a"', "malformed"),
        (body(v=2), "version"),
        (body(v=True), "version"),
        (body(v="1"), "version"),
        (body(type="hello"), "type"),
        (body(type="lesson"), "type"),
        (body(url="https://www.instagram.com/x"), "malformed"),  # no field beyond the four
        (body(title="Instagram"), "malformed"),
        (body(match={"category": "social_media"}), "match"),
        (body(match={**INSTAGRAM, "host": "www.instagram.com"}), "match"),
        (body(match={"category": "social_media", "app": "www.instagram.com/p/1"}), "match"),
        (body(match={"category": "Social Media", "app": "instagram"}), "match"),
        (body(match={"category": "social_media", "app": 7}), "match"),
        (body(match="instagram"), "match"),
        (body(at="2026-11-24T08:30:00"), "time"),  # no zone
        (body(at="2026-11-24T08:30:00+00:00"), "time"),  # UTC, but not written with Z
        (body(at="2026-11-24T08:30:00.5Z"), "time"),  # not whole seconds
        (body(at="2026-13-24T08:30:00Z"), "time"),
        (body(at="2026-11-24T08:32:01Z"), "time"),  # more than 2 minutes off
        (body(at="2026-11-24T08:27:59Z"), "time"),
        (body(at=1764000000), "time"),
    ],
)
def test_what_the_extension_sends_is_checked_strictly(raw: bytes, expected: Tab | str) -> None:
    """Only a focus of version 1 naming catalog ids at a time near now is passed on."""
    if isinstance(expected, Tab):
        assert parse_focus(raw, NOW) == expected
    else:
        with pytest.raises(Dropped) as caught:
            parse_focus(raw, NOW)
        assert caught.value.kind == expected


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (["chrome-extension://miidlkkbabhbefopaneddnaplacpdfhl/"], True),
        (["chrome-extension://miidlkkbabhbefopaneddnaplacpdfhl/", "--parent-window=0"], True),
        (["chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"], False),
        (["chrome-extension://miidlkkbabhbefopaneddnaplacpdfhl"], False),  # not the exact origin
        (["/path/to/manifest.json", "lessonwatch@example"], False),  # Firefox's arguments
        ([""], False),
        ([], False),
    ],
)
def test_only_our_extension_is_served(argv: list[str], ok: bool) -> None:
    assert origin_allowed(argv) is ok


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (BrowserHello(), b'{"v":1,"type":"browser"}'),
        (
            Focus("abcdefgh12", 3, "social_media", "instagram"),
            b'{"v":1,"type":"focus","lesson":"abcdefgh12","n":3,'
            b'"match":{"category":"social_media","app":"instagram"}}',
        ),
        (
            Focus("abcdefgh12", 4),
            b'{"v":1,"type":"focus","lesson":"abcdefgh12","n":4,"match":null}',
        ),
    ],
)
def test_the_channel_carries_the_browser_messages(message: object, line: bytes) -> None:
    assert encode(message) == line + b"\n"  # type: ignore[arg-type]
    assert decode(line) == message


@pytest.mark.parametrize(
    "line",
    [
        b'{"v":1,"type":"browser","agent":"x"}',
        b'{"v":1,"type":"focus","lesson":"abcdefgh12","n":1,"match":{"category":"a","app":"B"}}',
        b'{"v":1,"type":"focus","lesson":"abcdefgh12","n":1,"match":{"category":"a"}}',
        b'{"v":1,"type":"focus","lesson":"abcdefgh12","n":0,"match":null}',
        b'{"v":1,"type":"focus","lesson":"abcdefgh12","n":1,"match":null,"host":"x.com"}',
    ],
)
def test_the_channel_refuses_anything_else(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(line)


# -- the hub's browser peers -------------------------------------------------------------------


def told(hub: Hub, key: int) -> list[object]:
    return [decode(line[:-1]) for line in hub.outgoing(key) or []]


def helper_key(hub: Hub) -> int | None:
    return hub.helper


def browser(hub: Hub, key: int, now: float = T0) -> None:
    assert hub.opened(key, 1001, True, now) is None
    assert hub.received(key, encode(BrowserHello()), now)


def in_lesson(hub: Hub, key: int) -> str:
    hub.monitor(T0 + 600, 1, False, [".png"], now=T0, catalog=CATALOG)
    *_, monitor = told(hub, key)  # after the idle of its hello, if not read yet
    assert isinstance(monitor, Monitor)
    return monitor.lesson


def focus(nonce: str, n: int, category: str | None = None, family: str | None = None) -> bytes:
    return encode(Focus(nonce, n, category, family))


def test_a_browser_host_is_told_idle_at_once_and_the_lesson_when_it_starts() -> None:
    """Unlike the helper it hears 'idle' on connecting, then monitor and idle; it is not the
    helper, and the helper's place is untouched."""
    hub = Hub(required=False)
    browser(hub, 1)
    assert told(hub, 1) == [Idle()] and helper_key(hub) is None
    assert hub.opened(2, 1001, True, T0) is None and hub.received(2, encode(Hello()), T0)
    assert helper_key(hub) == 2 and hub.browsers(T0).connected == 1
    nonce = in_lesson(hub, 1)
    hub.idle()
    assert told(hub, 1) == [Idle()]
    assert hub.received(1, focus(nonce, 1, "social_media", "instagram"), T0 + 1)  # late: ignored
    assert hub.browsers(T0 + 1).tabs == ()


def test_a_focus_counts_while_fresh_and_only_for_a_family_of_the_running_policy() -> None:
    hub = Hub(required=False)
    browser(hub, 1)
    told(hub, 1)
    nonce = in_lesson(hub, 1)
    hub.received(1, focus(nonce, 1, "social_media", "instagram"), T0 + 1)
    assert hub.browsers(T0 + 1).tabs == (TabSeen("social_media", "instagram"),)
    assert hub.browsers(T0 + 1 + TAB_FRESH).reporting
    assert hub.browsers(T0 + 2 + TAB_FRESH).tabs == ()  # silent too long: no longer counts
    # Not in this policy's catalog, or in another category: dropped and counted, kept open,
    # and the tab is no longer Instagram.
    assert hub.received(1, focus(nonce, 2, "social_media", "roblox"), T0 + 3)
    assert hub.received(1, focus(nonce, 3, "screen_recording", "instagram"), T0 + 3)
    assert hub.browser_dropped == 2 and hub.browsers(T0 + 3).connected == 1
    assert hub.browsers(T0 + 3).tabs == ()
    hub.received(1, focus(nonce, 4), T0 + 4)  # null: the browser reports, nothing counts
    view = hub.browsers(T0 + 4)
    assert view.reporting and view.tabs == ()


@pytest.mark.parametrize(
    ("first", "then", "kind"),
    [
        ((1,), 1, "replay"),  # an n used before
        ((5,), 2, "replay"),
        ((), None, "order"),  # a focus before the browser hello
    ],
)
def test_replays_and_disorder_close_a_browser_host(
    first: tuple[int, ...], then: int | None, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Closed, and logged by kind."""
    hub = Hub(required=False)
    if then is None:
        assert hub.opened(1, 1001, True, T0) is None
        assert not hub.received(1, focus("abcdefgh12", 1), T0)
        assert f"({kind})" in caplog.text
        return
    browser(hub, 1)
    told(hub, 1)
    nonce = in_lesson(hub, 1)
    for n in first:
        assert hub.received(1, focus(nonce, n), T0 + 1)
    assert not hub.received(1, focus(nonce, then), T0 + 2)
    assert hub.browsers(T0 + 2).connected == 0 and f"({kind})" in caplog.text


def test_a_nonce_never_given_is_a_replay_and_a_helper_cannot_send_focus() -> None:
    hub = Hub(required=False)
    browser(hub, 1)
    in_lesson(hub, 1)
    assert not hub.received(1, focus("nevergiven1", 1), T0 + 1)
    assert hub.opened(2, 1001, True, T0) is None and hub.received(2, encode(Hello()), T0)
    assert not hub.received(2, focus("abcdefgh12", 1), T0 + 1)


def test_at_most_four_browsers_the_oldest_makes_way() -> None:
    hub = Hub(required=False)
    for key in range(1, MAX_BROWSERS + 2):
        browser(hub, key, now=T0 + key)
    assert hub.browsers(T0).connected == MAX_BROWSERS
    assert hub.outgoing(1) is None  # dropped: its transport closes it


def test_the_agent_hears_whenever_a_browser_comes_or_goes() -> None:
    hub = Hub(required=False)
    calls: list[int] = []
    hub.on_helper_change = lambda: calls.append(1)
    browser(hub, 1)
    hub.closed(1)
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("reports", "now", "reporting", "tabs"),
    [
        ([], T0, False, ()),
        ([(None, None)], T0, False, ()),  # connected, never reported in this lesson
        ([(None, T0)], T0 + 10, True, ()),
        ([(TabSeen("social_media", "tiktok"), T0)], T0 + TAB_FRESH, True, ("tiktok",)),
        ([(TabSeen("social_media", "tiktok"), T0)], T0 + TAB_FRESH + 1, False, ()),
        # Two browsers: the one in front reports its tab, the other null; both the same tab once.
        (
            [(TabSeen("social_media", "tiktok"), T0), (None, T0)],
            T0 + 1,
            True,
            ("tiktok",),
        ),
        (
            [(TabSeen("social_media", "tiktok"), T0), (TabSeen("social_media", "tiktok"), T0)],
            T0 + 1,
            True,
            ("tiktok",),
        ),
    ],
)
def test_fresh_tabs(
    reports: list[tuple[TabSeen | None, float | None]],
    now: float,
    reporting: bool,
    tabs: tuple[str, ...],
) -> None:
    got_reporting, got = fresh_tabs(reports, now)
    assert got_reporting is reporting and tuple(t.family for t in got) == tabs


# -- precedence: one finding per family, whatever saw it ---------------------------------------

POLICY = load_policy()
TITLES_ON = compile_policy(
    dataclasses.replace(
        POLICY, settings=dataclasses.replace(POLICY.settings, window_title_probe=True)
    )
)
LESSON = LessonContext("l_1", NOW, NOW + timedelta(minutes=50))
INSTA_TAB = TabSeen("social_media", "instagram")
INSTA_TITLE = WindowSeen("Instagram – Chromium", browser=True, platform="linux")
YOUTUBE_TITLE = WindowSeen("YouTube – Chromium", browser=True, platform="linux")
TIKTOK_TAB = TabSeen("social_media", "tiktok")
OBS = ProcessSeen(name="obs", exe="/usr/bin/obs", platform="linux")


def seconds_per_family(samples: list[list[Observation]]) -> dict[str, tuple[int, int]]:
    """Samples every 15 s through the engine and the summary, as the agent folds them."""
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        LESSON.end,
        NOW,
        sample_seconds=15,
        grace_seconds=30,
    )
    for i, seen in enumerate(samples):
        at = NOW + timedelta(seconds=15 * i)
        state = summary.step(state, evaluate(TITLES_ON, seen, LESSON, now=at), {}, at)
    done = summary.finish(state, NOW + timedelta(seconds=15 * len(samples)), agent_version="0.1.0")
    return {f.family: (f.seconds, f.episodes) for f in done.findings}


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        # The tab alone: like a foreground app of that family.
        ([[INSTA_TAB]] * 4, {"instagram": (60, 1)}),
        # The title and the tab see the same thing: counted once, not 120 s.
        ([[INSTA_TAB, INSTA_TITLE]] * 4, {"instagram": (60, 1)}),
        # Sources taking turns in consecutive samples: still one episode.
        ([[INSTA_TITLE], [INSTA_TAB], [INSTA_TITLE], [INSTA_TAB]], {"instagram": (60, 1)}),
        # Different apps at the same time (an installed app and a tab) are two findings.
        ([[TIKTOK_TAB, OBS]] * 4, {"tiktok": (60, 1), "obs": (60, 1)}),
        # Under the grace period, whatever saw it.
        ([[INSTA_TAB, INSTA_TITLE], []], {}),
    ],
)
def test_one_finding_per_family_whichever_source_saw_it(
    samples: list[list[Observation]], expected: dict[str, tuple[int, int]]
) -> None:
    assert seconds_per_family(samples) == expected


@pytest.mark.parametrize(
    ("seen", "tabs", "reporting", "kept"),
    [
        # No extension reports: titles count as before.
        ([INSTA_TITLE], (), False, [INSTA_TITLE]),
        # It reports: the browser's title yields to the tab (a title is a guess about a tab).
        ([YOUTUBE_TITLE], (INSTA_TAB,), True, [INSTA_TAB]),
        ([INSTA_TITLE], (), True, []),  # the extension says null: a stale title is not counted
        # Windows that are not a browser's, and apps, are not the extension's to overrule.
        (
            [WindowSeen("Instagram", browser=False), OBS],
            (INSTA_TAB,),
            True,
            [WindowSeen("Instagram", browser=False), OBS, INSTA_TAB],
        ),
    ],
)
def test_browser_precedence(
    seen: list[Observation], tabs: tuple[TabSeen, ...], reporting: bool, kept: list[Observation]
) -> None:
    assert browser_precedence(seen, tabs, reporting) == kept


def test_the_helped_probes_apply_the_precedence() -> None:
    """A reporting extension: its tab joins the process list and browser titles rest."""

    class Own:
        def __init__(self, name: str, seen: list[Observation]):
            self.name, self.seen = name, seen

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def sample(self) -> list[Observation]:
            return list(self.seen)

    hub = Hub(required=False)
    browser(hub, 1)
    nonce = in_lesson(hub, 1)
    clock = lambda: T0 + 2  # noqa: E731
    procs = HelpedProcesses(Own("processes", [OBS]), hub, False, clock)
    window = HelpedWindow(Own("window_title", [YOUTUBE_TITLE]), hub, False, clock)
    assert procs.sample() == [OBS] and window.sample() == [YOUTUBE_TITLE]
    hub.received(1, focus(nonce, 1, "social_media", "instagram"), T0 + 1)
    assert procs.sample() == [OBS, INSTA_TAB] and window.sample() == []


# -- the relay ---------------------------------------------------------------------------------


class Pipe(io.RawIOBase):
    """The browser's end of stdin: frames written by the test, EOF when closed."""

    def __init__(self) -> None:
        self.r, self.w = socket.socketpair()

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1, /) -> bytes:
        return self.r.recv(size if size > 0 else 4096)

    def close(self) -> None:
        self.r.close()
        self.w.close()
        super().close()


class Out(io.BytesIO):
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in Frames().feed(self.getvalue())]


def test_the_relay_passes_focus_on_only_during_a_lesson() -> None:
    """hello and 'not running' first; a focus before the lesson is dropped; in the lesson it
    reaches the service under the lesson's nonce; a bad one is counted, never passed on."""
    service, host_end = socket.socketpair()

    class Link:
        def send(self, data: bytes) -> None:
            host_end.sendall(data)

        def recv(self, timeout: float | None) -> bytes | None:
            host_end.settimeout(timeout)
            try:
                return host_end.recv(8192)
            except TimeoutError:
                return None

        def close(self) -> None:
            host_end.close()

    stdin, stdout = Pipe(), Out()
    now = [NOW]
    relay = Relay(stdin, stdout, Link, wall=lambda: now[0])
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(relay.serve()))
    thread.start()
    service.settimeout(10)
    assert decode(service.recv(100).rstrip(b"\n")) == BrowserHello()
    stdin.w.sendall(struct.pack("=I", len(body())) + body())  # before the lesson
    _wait(lambda: relay.dropped["outside a lesson"] == 1)
    service.sendall(encode(Monitor("abcdefgh12", 2e9, 1, False, ())))
    _wait(lambda: relay.lesson is not None)
    for raw in (body(v=2), body(match={"category": "x", "app": "a/b"}), body()):
        stdin.w.sendall(struct.pack("=I", len(raw)) + raw)
    line = service.recv(1000)
    assert decode(line.rstrip(b"\n")) == Focus("abcdefgh12", 1, "social_media", "instagram")
    service.sendall(encode(Idle()))
    _wait(lambda: relay.lesson is None)
    stdin.w.close()
    thread.join(10)
    assert done == [0]
    assert [m["type"] for m in stdout.messages()] == ["hello", "lesson", "lesson", "lesson"]
    assert [m.get("running") for m in stdout.messages()[1:]] == [False, True, False]
    assert relay.dropped == {"outside a lesson": 1, "version": 1, "match": 1}
    service.close()
    stdin.close()


def _wait(predicate: Any) -> None:
    event = threading.Event()
    for _ in range(200):
        if predicate():
            return
        event.wait(0.02)
    raise AssertionError("not reached")


def test_the_relay_closes_on_an_oversized_frame() -> None:
    class NoLink:
        def __init__(self) -> None:
            raise OSError("no service")

    stdin, stdout = Pipe(), Out()
    relay = Relay(stdin, stdout, NoLink)
    stdin.w.sendall(struct.pack("=I", MAX_IN + 1))
    assert relay.serve() == 1
    stdin.close()
    assert [m["type"] for m in stdout.messages()] == ["hello", "lesson"]


# -- what the pupil reads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "heading", "never"),
    [
        ("en", "The browser extension:", "Never the rest of the address, searches, page titles"),
        ("nl", "De browserextensie:", "Nooit de rest van het adres, zoekopdrachten, paginatitels"),
    ],
)
def test_explain_says_what_the_extension_checks_and_never_reads(
    lang: str, heading: str, never: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lessonwatch-agent explain` carries the browser section, every sentence of it."""
    from agent.cli import main
    from policies.explain import explain_data

    assert main(["explain", "--state-dir", "/nonexistent-state", "--lang", lang]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert heading in out and never in out
    browser = explain_data(POLICY, "nl" if lang == "nl" else "en")["browser"]
    assert all(text in out for text in browser.values())


def test_a_burst_of_tab_switches_reaches_the_service_as_the_latest_at_most_twice_a_second() -> None:
    """Holding Ctrl+Tab: the first focus goes at once, the rest wait their turn and only the
    latest is passed on, so the host never trips the channel's flood limit."""
    sent: list[object] = []

    class Recorder:
        def send(self, data: bytes) -> None:
            sent.append(decode(data.rstrip(b"\n")))

    now = [T0]
    relay = Relay(Pipe(), Out(), Recorder, clock=lambda: now[0])
    relay.link, relay.lesson = Recorder(), "abcdefgh12"
    for family in ("instagram", "tiktok", "instagram", "tiktok"):
        relay._focus(Tab("social_media", family))
    assert sent == [Focus("abcdefgh12", 1, "social_media", "instagram")]
    now[0] += 0.5
    relay.flush()
    relay.flush()
    assert sent[1:] == [Focus("abcdefgh12", 2, "social_media", "tiktok")]
    relay.stdin.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("browser", "text"),
    [
        ({"connected": 0, "dropped": 0}, "not connected"),
        ({"connected": 1, "dropped": 0}, "connected"),
        ({"connected": 2, "dropped": 0}, "connected (2 browsers)"),
        (
            {"connected": 1, "dropped": 3},
            "connected; 3 messages named no app of the policy and were dropped",
        ),
        ({}, "not connected"),  # a status file of another version
    ],
)
def test_status_says_whether_an_extension_is_connected(browser: dict[str, int], text: str) -> None:
    from agent.cli import browser_text

    assert browser_text(browser) == text
