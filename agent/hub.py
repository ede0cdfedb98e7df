"""The service's side of the helper channel, without sockets: who is connected, what to tell
them, and the latest report. ``hub_posix`` (Unix socket) and ``hub_windows`` (named pipe) move
the bytes and call ``opened``/``received``/``closed``; the agent's probes read ``view`` and
``take_captures`` under the same lock. Every decision takes ``now`` (monotonic seconds).

- A connection whose peer is not the console user is refused before it can say anything.
- An accepted one must say ``hello`` within ``HELLO_SECONDS``; then it is *the* helper, and an
  earlier helper is closed (newest wins: a helper restarted at login replaces the old one).
- During a lesson the helper is told ``monitor`` with a fresh nonce; its samples must carry
  that nonce and a rising ``n``. A sample for a nonce it was never given, or an ``n`` it used
  before, is a replay; silence for ``3 * sample_seconds + 5`` s during a lesson is a hang. Either
  closes it, and the probes that depend on it are "unavailable" until a helper reports again.
- Outside lessons nothing is expected of the helper and nothing times out.

Browser extensions' native hosts (paired mode, ``agent.native_host``) are peers of their own
kind, under the same console-user rule: they say ``browser``, are told ``monitor``/``idle``
like the helper (and ``idle`` at once, so a host knows there is no lesson), and send ``focus``
under the lesson's nonce. Several may be connected (one per running browser, at most
``MAX_BROWSERS``; the oldest makes way). A focus counts while it is fresh (``TAB_FRESH``: the
extension repeats it every 30 s in a lesson) and only if the running policy's catalog has that
family in that category; another match is dropped and counted (``browser_dropped``) and the
tab is then no finding. A silent host is not closed: its last focus simply stops counting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from agent.channel import (
    BrowserHello,
    Focus,
    Hello,
    Idle,
    Lines,
    Monitor,
    ProtocolError,
    RateLimit,
    Refused,
    Sample,
    State,
    decode,
    encode,
)
from policies import TabSeen

log = logging.getLogger(__name__)

HELLO_SECONDS = 5.0
MAX_PENDING = 8
MAX_BROWSERS = 4
# The extension repeats its focus every 30 s during a lesson: two missed, and a little slack.
TAB_FRESH = 65.0
Status = Literal["fresh", "pending", "absent"]


@dataclass(frozen=True)
class BrowserView:
    """What the browsers' extensions report now, for one service sample."""

    connected: int  # native hosts connected now
    reporting: bool  # at least one reported within ``TAB_FRESH`` in this lesson
    tabs: tuple[TabSeen, ...] = ()  # the fresh catalog matches of the active tabs


def fresh_tabs(
    reports: Collection[tuple[TabSeen | None, float | None]], now: float
) -> tuple[bool, tuple[TabSeen, ...]]:
    """Whether any browser reports, and its tabs that count: reported within ``TAB_FRESH``."""
    live = [tab for tab, at in reports if at is not None and 0 <= now - at <= TAB_FRESH]
    tabs = {t for t in live if t is not None}
    return bool(live), tuple(sorted(tabs, key=lambda t: (t.category, t.family)))


@dataclass(frozen=True)
class HelperView:
    """What the helper reports now, for one service sample."""

    status: Status
    app: Sample | None = None  # the latest sample (app, title, states), when fresh


def helper_status(
    connected: bool,
    sample_seconds: int,
    monitor_at: float | None,
    sample_at: float | None,
    now: float,
) -> Status:
    """``fresh``: a sample of this lesson arrived recently; ``pending``: the helper was just told
    to monitor and has not had time to answer; ``absent``: no helper, or a silent one."""
    if not connected or monitor_at is None:
        return "absent"
    if sample_at is not None and now - sample_at <= 2 * sample_seconds + 2:
        return "fresh"
    if sample_at is None and now - monitor_at <= sample_seconds + 3:
        return "pending"
    return "absent"


def _nothing() -> None:
    pass


@dataclass
class Peer:
    uid: int | None
    opened: float
    lines: Lines = field(default_factory=Lines)
    rate: RateLimit = field(default_factory=RateLimit)
    hello: bool = False
    nonces: set[str] = field(default_factory=set)
    last_n: int = 0
    outbox: list[bytes] = field(default_factory=list)
    told: Monitor | Idle | None = None
    browser: bool = False  # a browser extension's native host, not the helper
    tab: TabSeen | None = None  # its latest focus in this lesson
    tab_at: float | None = None


class Hub:
    def __init__(self, required: bool):
        self.required = required
        self.lock = threading.Lock()
        self.peers: dict[int, Peer] = {}
        self.helper: int | None = None
        self.lesson: Monitor | None = None
        self.monitor_at: float | None = None
        self.sample: Sample | None = None
        self.sample_at: float | None = None
        self.captures: set[str] = set()
        self.capture_state: State = "unavailable"
        # The running policy's families (id -> category): what a browser's focus may name.
        self.catalog: Mapping[str, str] = {}
        self.browser_dropped = 0
        self.wake: Callable[[], None] = _nothing  # the transport's way to wake its thread
        # Called (outside the lock) when a helper connects or goes away: the agent rewrites its
        # status file, so ``status`` says at once whether a helper is connected.
        self.on_helper_change: Callable[[], None] = _nothing

    # -- the agent's side --------------------------------------------------------------------
    def monitor(
        self,
        until: float,
        sample_seconds: int,
        titles: bool,
        extensions: Collection[str],
        now: float,
        catalog: Mapping[str, str] | None = None,
    ) -> None:
        with self.lock:
            self.catalog = dict(catalog or {})
            self.lesson = Monitor(
                lesson=secrets.token_urlsafe(12),
                until=until,
                sample_seconds=sample_seconds,
                titles=titles,
                extensions=tuple(sorted({e.casefold() for e in extensions})),
            )
            self.monitor_at = now
            self._forget()
            self._forget_tabs()
            self._tell_helper(now)
            self._tell_browsers()
        self.wake()

    def idle(self) -> None:
        with self.lock:
            self.lesson, self.monitor_at = None, None
            self._forget()
            self._forget_tabs()
            self._tell_helper(0.0)
            self._tell_browsers()
        self.wake()

    def browsers(self, now: float) -> BrowserView:
        with self.lock:
            peers = [p for p in self.peers.values() if p.browser]
            reporting, tabs = fresh_tabs([(p.tab, p.tab_at) for p in peers], now)
            return BrowserView(len(peers), reporting, tabs)

    def view(self, now: float) -> HelperView:
        with self.lock:
            seconds = self.lesson.sample_seconds if self.lesson else 1
            status = helper_status(
                self.helper is not None, seconds, self.monitor_at, self.sample_at, now
            )
            return HelperView(status, self.sample if status == "fresh" else None)

    def take_captures(self, now: float) -> tuple[Status, State, list[str]]:
        """The capture kinds reported since the last call (each kind once), and the state."""
        view = self.view(now)
        with self.lock:
            kinds, self.captures = sorted(self.captures), set()
            return view.status, self.capture_state, kinds

    # -- the transport's side ----------------------------------------------------------------
    def opened(self, key: int, uid: int | None, allowed: bool, now: float) -> bytes | None:
        """A new connection; the bytes to send and close at once when it is refused."""
        with self.lock:
            pending = sum(1 for p in self.peers.values() if not p.hello)
            if not allowed or pending >= MAX_PENDING:
                reason = "busy" if allowed else "not the console user"
                log.warning("helper channel: uid %s refused (%s)", uid, reason)
                return encode(Refused(reason))
            self.peers[key] = Peer(uid, now)
            return None

    def received(self, key: int, data: bytes, now: float) -> bool:
        """Bytes from a peer; False when it must be closed (logged by kind, never content)."""
        with self._locked_telling():
            peer = self.peers.get(key)
            if peer is None:
                return False
            try:
                lines = peer.lines.feed(data)
                for _ in lines:  # counted before any is handled: a flood is a flood
                    peer.rate.take(now)
                for line in lines:
                    self._handle(key, peer, decode(line), now)
            except ProtocolError as exc:
                log.warning("helper channel: uid %s disconnected (%s)", peer.uid, exc.kind)
                self._drop(key)
                return False
        self.wake()
        return True

    def closed(self, key: int) -> None:
        with self._locked_telling():
            if key in self.peers:
                self._drop(key)

    def outgoing(self, key: int) -> list[bytes] | None:
        """Lines to send to a peer; None when the hub has dropped it."""
        with self.lock:
            peer = self.peers.get(key)
            if peer is None:
                return None
            out, peer.outbox = peer.outbox, []
            return out

    def expired(self, now: float) -> list[int]:
        """Connections to close now: no hello in time, or a helper silent during a lesson."""
        with self._locked_telling():
            late = [
                k for k, p in self.peers.items() if not p.hello and now - p.opened > HELLO_SECONDS
            ]
            if self.helper is not None and self.lesson and self.monitor_at is not None:
                last = self.sample_at if self.sample_at is not None else self.monitor_at
                if now - last > 3 * self.lesson.sample_seconds + 5:
                    late.append(self.helper)
            for key in late:
                log.warning("helper channel: uid %s disconnected (silent)", self.peers[key].uid)
                self._drop(key)
            return late

    @contextlib.contextmanager
    def _locked_telling(self) -> Iterator[None]:
        """The lock, for a change that may connect or drop the helper; the agent is told
        (``on_helper_change``) after the lock is released."""
        with self.lock:
            before = self.helper, self._browser_count()
            try:
                yield
            finally:
                changed = (self.helper, self._browser_count()) != before
        if changed:
            self.on_helper_change()

    def deadline(self) -> float | None:
        """When ``expired`` may next have something to do; None: nothing can expire."""
        with self.lock:
            times = [p.opened + HELLO_SECONDS for p in self.peers.values() if not p.hello]
            if self.helper is not None and self.lesson and self.monitor_at is not None:
                last = self.sample_at if self.sample_at is not None else self.monitor_at
                times.append(last + 3 * self.lesson.sample_seconds + 5)
            return min(times) + 0.05 if times else None

    # -- decisions (called with the lock held) ----------------------------------------------
    def _browser_count(self) -> int:
        return sum(1 for p in self.peers.values() if p.browser)

    def _handle(self, key: int, peer: Peer, message: object, now: float) -> None:
        if isinstance(message, BrowserHello | Focus):
            self._handle_browser(key, peer, message, now)
            return
        if peer.browser:
            raise ProtocolError("order")  # a browser's host never speaks as the helper
        if isinstance(message, Hello):
            if peer.hello:
                raise ProtocolError("order")
            peer.hello = True
            if self.helper is not None and self.helper != key:
                log.info("helper channel: a newer helper replaces the connected one")
                self._drop(self.helper)
            self.helper = key
            self._forget()
            self._tell_helper(now)
            log.info("helper channel: helper of uid %s connected", peer.uid)
            return
        if not isinstance(message, Sample) or not peer.hello:
            raise ProtocolError("order")
        if message.lesson not in peer.nonces or message.n <= peer.last_n:
            raise ProtocolError("replay")
        peer.last_n = message.n
        lesson = self.lesson
        if key != self.helper or lesson is None or message.lesson != lesson.lesson:
            return  # sent before it heard the lesson ended: late, not hostile
        titles = lesson.titles  # a title not asked for is not kept, whatever the peer sent
        captures = tuple(x for x in message.captures if x in lesson.extensions)
        self.sample = dataclasses.replace(
            message,
            title=message.title if titles else None,
            title_state=message.title_state if titles else "off",
            captures=captures,
        )
        self.sample_at = now
        self.captures.update(captures)
        self.capture_state = message.capture_state

    def _handle_browser(
        self, key: int, peer: Peer, message: BrowserHello | Focus, now: float
    ) -> None:
        if isinstance(message, BrowserHello):
            if peer.hello:
                raise ProtocolError("order")
            peer.hello = peer.browser = True
            browsers = sorted((p.opened, k) for k, p in self.peers.items() if p.browser)
            for _, old in browsers[: max(0, len(browsers) - MAX_BROWSERS)]:
                log.info("helper channel: a newer browser host replaces the oldest")
                self._drop(old)
            self._tell(peer, always=True)
            log.info("helper channel: browser host of uid %s connected", peer.uid)
            return
        if not peer.browser:
            raise ProtocolError("order")
        if message.lesson not in peer.nonces or message.n <= peer.last_n:
            raise ProtocolError("replay")
        peer.last_n = message.n
        lesson = self.lesson
        if lesson is None or message.lesson != lesson.lesson:
            return  # sent before it heard the lesson ended: late, not hostile
        tab = None
        if message.category is not None and message.family is not None:
            if self.catalog.get(message.family) == message.category:
                tab = TabSeen(message.category, message.family)
            else:
                # The extension's catalog is not this policy's (older, newer, or not ours): the
                # match is dropped and counted, and the tab is no finding (the browser moved
                # on from what it reported before). The connection stays.
                self.browser_dropped += 1
        peer.tab, peer.tab_at = tab, now

    def _tell_browsers(self) -> None:
        for peer in self.peers.values():
            if peer.browser and peer.hello:
                self._tell(peer, always=False)

    def _tell(self, peer: Peer, *, always: bool) -> None:
        """Tell a browser host the lesson state when it changed (``always``: on its hello)."""
        wanted: Monitor | Idle = self.lesson or Idle()
        if wanted == peer.told and not always:
            return
        if isinstance(wanted, Monitor):
            peer.nonces.add(wanted.lesson)
        peer.outbox.append(encode(wanted))
        peer.told = wanted

    def _forget_tabs(self) -> None:
        for peer in self.peers.values():
            peer.tab, peer.tab_at = None, None

    def _tell_helper(self, now: float) -> None:
        peer = self.peers.get(self.helper) if self.helper is not None else None
        if peer is None:
            return
        wanted: Monitor | Idle = self.lesson or Idle()
        if wanted == peer.told or (peer.told is None and isinstance(wanted, Idle)):
            return  # a fresh helper starts idle: nothing to say
        if isinstance(wanted, Monitor):
            peer.nonces.add(wanted.lesson)
            self.monitor_at = now  # this helper's answer is due from now
        peer.outbox.append(encode(wanted))
        peer.told = wanted

    def _forget(self) -> None:
        self.sample, self.sample_at = None, None
        self.captures, self.capture_state = set(), "unavailable"

    def _drop(self, key: int) -> None:
        self.peers.pop(key, None)
        if key == self.helper:
            self.helper = None
            self._forget()


@dataclass(frozen=True)
class HelperSettings:
    """``run --helper-socket``: where to listen, whether the service depends on the helper
    (Windows, macOS), and for tests a fixed set of uids standing in for the console user."""

    address: str
    required: bool
    console: frozenset[int] | None = None


class Transport(Protocol):
    def start(self) -> None: ...

    def close(self) -> None: ...


def listen(settings: HelperSettings, hub: Hub) -> Transport:
    """The channel's transport for this OS, not started yet (imported only when used)."""
    if sys.platform == "win32":  # pragma: no cover - needs Windows
        from agent.hub_windows import PipeHub

        return PipeHub(hub, settings.address)
    from pathlib import Path

    from agent import peers
    from agent.hub_posix import SocketHub

    fixed = settings.console
    return SocketHub(
        hub,
        Path(settings.address),
        (lambda: fixed) if fixed is not None else peers.read_console_uids,
    )
