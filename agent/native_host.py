"""``lessonwatch-agent native-host``: the browser extension's native messaging host (paired mode).

The browser starts this process itself when the extension calls ``connectNative``, with the
caller's origin as the first argument, and talks to it over stdin and stdout in Chrome's native
messaging framing: a 4-byte native-endian length, then UTF-8 JSON. It is a thin relay to the
service's helper channel (``agent.hub``), where it is a peer of its own kind (``browser``):

- to the extension: ``hello`` with the agent's version, then ``lesson`` running true or false
  at once and whenever the service starts or stops monitoring a lesson;
- from the extension: ``focus``, the active tab as a catalog match (category and app id) or
  ``null``, checked strictly here (``parse_focus``): another version or type, an id that is not
  a catalog id, or a time that is not now is dropped and counted (by kind, in the log when the
  browser closes the port); a frame over ``MAX_IN`` bytes ends the process. Whether the ids
  are in the running policy's catalog only the service knows; it drops and counts the rest.

Only during a lesson is a focus passed on, under the lesson's nonce, at most every
``MIN_GAP`` seconds (the latest wins: holding Ctrl+Tab is not a flood). Outside lessons the
host forwards nothing and, blocked on its two reads, does nothing. It opens no network
connection, writes no file, and imports no more than the helper's link and the channel's codec
(it starts with every browser: no requests, psutil or APScheduler).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol

from agent import __version__
from agent.channel import (
    CATALOG_ID,
    BrowserHello,
    Focus,
    Idle,
    Lines,
    Monitor,
    ProtocolError,
    Refused,
    decode,
    encode,
)

log = logging.getLogger(__name__)

HOST_NAME = "nl.lessonwatch.agent"
EXTENSION_ID = "miidlkkbabhbefopaneddnaplacpdfhl"
ORIGINS = frozenset({f"chrome-extension://{EXTENSION_ID}/"})
VERSION = 1
MAX_IN = 1024  # our messages are tiny; Chrome allows 64 MiB towards a host
MAX_OUT = 1024 * 1024  # Chrome's limit towards the extension
SKEW = 120.0  # seconds a focus's "at" may differ from this clock (same machine)
MIN_GAP = 0.5  # seconds between focus messages passed on to the service
RETRY_CAP = 30.0
REFUSED_WAIT = 60.0
_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class Dropped(Exception):
    """A message from the extension that is not passed on; ``kind`` is what gets counted."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class Oversized(Exception):
    """A frame longer than ``MAX_IN``: the host closes."""


class ChannelRefused(Exception):
    """The service will not hear this host (not the console user's, or busy)."""


class Reader(Protocol):
    def read1(self, size: int = ..., /) -> bytes: ...


# -- framing (pure) ------------------------------------------------------------------------
def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode()
    if len(body) > MAX_OUT:
        raise Oversized("outgoing")
    return struct.pack("=I", len(body)) + body


@dataclass
class Frames:
    """Splits the browser's byte stream into message bodies; a length over ``MAX_IN`` is
    ``Oversized`` before a byte of its body is buffered."""

    buffer: bytes = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out = []
        while len(self.buffer) >= 4:
            (size,) = struct.unpack("=I", self.buffer[:4])
            if size > MAX_IN:
                raise Oversized(str(size))
            if len(self.buffer) < 4 + size:
                break
            out.append(self.buffer[4 : 4 + size])
            self.buffer = self.buffer[4 + size :]
        return out


# -- validation (pure) ---------------------------------------------------------------------
@dataclass(frozen=True)
class Tab:
    category: str | None  # None: no catalog match, or no browser window in focus
    family: str | None


def parse_focus(body: bytes, now: datetime) -> Tab:
    """One message from the extension as the tab it reports; ``Dropped(kind)`` otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Dropped("malformed") from None
    if not isinstance(data, dict):
        raise Dropped("malformed")
    if type(data.get("v")) is not int or data["v"] != VERSION:
        raise Dropped("version")
    if data.get("type") != "focus":
        raise Dropped("type")
    if set(data) != {"v", "type", "at", "match"}:
        raise Dropped("malformed")
    match = data["match"]
    if match is not None:
        if not isinstance(match, dict) or set(match) != {"category", "app"}:
            raise Dropped("match")
        ids = (match["category"], match["app"])
        if not all(isinstance(x, str) and CATALOG_ID.fullmatch(x) for x in ids):
            raise Dropped("match")
    at = data["at"]
    if not isinstance(at, str) or not _AT.fullmatch(at):
        raise Dropped("time")
    try:
        moment = datetime.fromisoformat(at[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise Dropped("time") from None
    if abs((moment - now).total_seconds()) > SKEW:
        raise Dropped("time")
    return Tab(None, None) if match is None else Tab(match["category"], match["app"])


def origin_allowed(argv: list[str]) -> bool:
    """The browser passes the caller's origin first (Chrome on Windows adds
    ``--parent-window=N`` after it); only our extension's id is served."""
    return bool(argv) and argv[0] in ORIGINS


# -- the relay -----------------------------------------------------------------------------
class Relay:
    """Both directions of one browser's connection; the I/O is handed in."""

    def __init__(
        self,
        stdin: Reader,
        stdout: BinaryIO,
        connect: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.stdin, self.stdout, self.connect = stdin, stdout, connect
        self.clock, self.wall = clock, wall
        self.lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.closed = threading.Event()
        self.dropped: Counter[str] = Counter()
        self.link: Any = None
        self.lesson: str | None = None  # the monitored lesson's nonce, None outside lessons
        self.running: bool | None = None  # what the extension was told last
        self.pending: Tab | None = None
        self.sent_at = -MIN_GAP
        self.n = 0

    def to_browser(self, message: dict[str, Any]) -> None:
        with self.out_lock:
            self.stdout.write(frame(message))
            self.stdout.flush()

    def tell_lesson(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.to_browser({"v": VERSION, "type": "lesson", "running": running})

    def serve(self) -> int:
        self.to_browser({"v": VERSION, "type": "hello", "agent": __version__})
        self.tell_lesson(False)
        threading.Thread(target=self._service_loop, name="channel", daemon=True).start()
        code = self._browser_loop()
        self.closed.set()
        with self.lock:
            link, self.link = self.link, None
        if link is not None:
            link.close()
        if self.dropped:
            counts = ", ".join(f"{k} {n}" for k, n in sorted(self.dropped.items()))
            log.warning("native host: messages dropped: %s", counts)
        return code

    # stdin: the extension
    def _browser_loop(self) -> int:
        frames = Frames()
        while True:
            data = self.stdin.read1(4096)
            if not data:
                return 0  # the browser closed the port
            try:
                bodies = frames.feed(data)
            except Oversized:
                log.warning("native host: a message over %d bytes; closing", MAX_IN)
                return 1
            for body in bodies:
                try:
                    tab = parse_focus(body, self.wall())
                except Dropped as exc:
                    self.dropped[exc.kind] += 1
                    continue
                self._focus(tab)

    def _focus(self, tab: Tab) -> None:
        with self.lock:
            if self.lesson is None:
                self.dropped["outside a lesson"] += 1
                return
            self.pending = tab
        self.flush()

    def flush(self) -> None:
        """Pass the latest focus on if the gap allows; else the channel loop does it later."""
        with self.lock:
            tab, lesson, link = self.pending, self.lesson, self.link
            if tab is None or lesson is None or link is None:
                return
            if self.clock() - self.sent_at < MIN_GAP:
                return
            self.pending, self.sent_at = None, self.clock()
            self.n += 1
            line = encode(Focus(lesson, self.n, tab.category, tab.family))
            # A closed link is the channel loop's to notice: it reconnects.
            with contextlib.suppress(OSError):
                link.send(line)

    # the service's channel
    def _service_loop(self) -> None:
        wait = 1.0
        while not self.closed.is_set():
            try:
                link = self.connect()
            except Exception as exc:
                log.info("native host: channel not reachable (%s)", exc.__class__.__name__)
                self.closed.wait(wait)
                wait = min(RETRY_CAP, wait * 2)
                continue
            with self.lock:
                self.link = link
            try:
                link.send(encode(BrowserHello()))
                self._listen(link)
                wait = 1.0
            except ChannelRefused as exc:
                log.warning("native host: the service refused it (%s)", exc)
                wait = REFUSED_WAIT
            except (OSError, ProtocolError) as exc:
                log.info("native host: channel lost (%s)", exc.__class__.__name__)
            finally:
                with self.lock:
                    self.link, self.lesson, self.pending = None, None, None
                link.close()
            if not self.closed.is_set():
                self.tell_lesson(False)
            self.closed.wait(wait)
            wait = min(RETRY_CAP, wait * 2)

    def _listen(self, link: Any) -> None:
        lines = Lines()
        while not self.closed.is_set():
            with self.lock:
                waiting = self.pending is not None and self.lesson is not None
            # Blocked outside lessons; in a lesson, awake only while a focus waits its turn.
            data = link.recv(MIN_GAP if waiting else None)
            if data is None:
                self.flush()
                continue
            if not data:
                return
            for line in lines.feed(data):
                self._on(decode(line))
            self.flush()

    def _on(self, message: object) -> None:
        if isinstance(message, Monitor):
            with self.lock:
                self.lesson, self.pending = message.lesson, None
            self.tell_lesson(True)
        elif isinstance(message, Idle):
            with self.lock:
                self.lesson, self.pending = None, None
            self.tell_lesson(False)
        elif isinstance(message, Refused):
            raise ChannelRefused(message.reason)
        else:
            raise ProtocolError("order")


def run(argv: list[str], address: str) -> int:
    """The host's whole life: refuse a foreign origin, else relay until the browser closes."""
    if not origin_allowed(argv):
        log.warning("native host: refused a caller that is not the lessonwatch extension")
        return 1
    from agent.helper import connect

    stdin: Any = sys.stdin.buffer  # a BufferedReader: read1 returns what has arrived
    return Relay(stdin, sys.stdout.buffer, lambda: connect(address)).serve()
