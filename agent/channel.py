"""The local channel between the service and the per-user helper: newline-delimited JSON, v1.

Pure: encoding, decoding, the line splitter and the rate limit take bytes and ``now`` and
return values; the sockets are in ``agent.hub`` (service) and ``agent.helper`` (helper).

Service to helper: ``monitor`` (a lesson is monitored: until when, how often, whether window
titles are wanted, the capture extensions, and a fresh ``lesson`` nonce), ``idle`` (stop
everything) and ``refused`` (this peer may not report). Helper to service: ``hello`` (right
after connecting) and ``sample`` (the foreground app, a window title only when asked for, new
capture kinds as extensions only). The browser extension's native host (``agent.native_host``,
paired mode) is a second kind of peer: it says ``browser`` instead of ``hello``, hears the same
``monitor`` and ``idle``, and sends ``focus``: the active tab's catalog match (category and app
family ids, or none) under the lesson's nonce. A line longer than ``MAX_LINE``, anything that
is not one of these messages exactly, another version or more than ``RATE`` lines a second is a
``ProtocolError`` whose ``kind`` (never the content) is what gets logged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from policies import ProcessSeen
from policies.catalog import basename, store_package_of

VERSION = 1
MAX_LINE = 4096
MAX_FIELD = 256
MAX_TITLE = 512
MAX_CAPTURES = 64
RATE = 5.0  # lines a second, sustained
BURST = 10.0
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
# A catalog id, as ``policies.wire`` accepts a category or family: never a host or a title.
CATALOG_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
APP_FIELDS = ("name", "exe", "bundle_id", "flatpak_id", "snap_name", "store_package")


def default_address(platform: str) -> str:
    """Where the service listens: a directory only its account can write (systemd's
    ``RuntimeDirectory`` on Linux; on macOS the program folder, since ``/var/run`` is root's and
    emptied at boot), or a named pipe on Windows."""
    if platform == "win32":
        return r"\\.\pipe\lessonwatch-agent"
    if platform == "darwin":
        return "/Library/Application Support/lessonwatch/run/helper.sock"
    return "/run/lessonwatch-agent/helper.sock"


ErrorKind = Literal["malformed", "oversized", "version", "flood", "replay", "silent", "order"]
State = Literal["ok", "unavailable", "off"]
_STATES: tuple[State, ...] = ("ok", "unavailable", "off")


class ProtocolError(Exception):
    def __init__(self, kind: ErrorKind):
        super().__init__(kind)
        self.kind: ErrorKind = kind


@dataclass(frozen=True)
class Hello:
    pass


@dataclass(frozen=True)
class Monitor:
    lesson: str
    until: float  # Unix time, collector clock
    sample_seconds: int
    titles: bool
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class Idle:
    pass


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Sample:
    lesson: str
    n: int
    app: ProcessSeen | None = None
    app_state: State = "unavailable"
    title: str | None = None
    title_state: State = "off"
    captures: tuple[str, ...] = ()
    capture_state: State = "unavailable"


@dataclass(frozen=True)
class BrowserHello:
    """The native host of a browser extension announcing itself (instead of ``Hello``)."""


@dataclass(frozen=True)
class Focus:
    """The browser's active tab as a catalog match, or None (no match, no browser focus)."""

    lesson: str
    n: int
    category: str | None = None
    family: str | None = None


Message = Hello | Monitor | Idle | Refused | Sample | BrowserHello | Focus


def wire_app(seen: ProcessSeen) -> ProcessSeen:
    """The foreground app as it may cross the channel: the executable's base name only (a full
    path carries the user's name), with the Store package taken from the path first."""
    store = seen.store_package or (store_package_of(seen.exe) if seen.exe else None)
    return ProcessSeen(
        name=seen.name,
        exe=basename(seen.exe) if seen.exe else None,
        bundle_id=seen.bundle_id,
        flatpak_id=seen.flatpak_id,
        snap_name=seen.snap_name,
        store_package=store,
        platform=seen.platform,
    )


def encode(message: Message) -> bytes:
    body: dict[str, Any] = {"v": VERSION}
    match message:
        case Hello():
            body["type"] = "hello"
        case BrowserHello():
            body["type"] = "browser"
        case Focus(lesson, n, category, family):
            match = None if category is None else {"category": category, "app": family}
            body.update(type="focus", lesson=lesson, n=n, match=match)
        case Idle():
            body["type"] = "idle"
        case Refused(reason):
            body.update(type="refused", reason=reason)
        case Monitor(lesson, until, seconds, titles, extensions):
            body.update(
                type="monitor",
                lesson=lesson,
                until=until,
                sample_seconds=seconds,
                titles=titles,
                extensions=list(extensions),
            )
        case Sample(lesson, n, app, app_state, title, title_state, captures, capture_state):
            body.update(type="sample", lesson=lesson, n=n, app_state=app_state)
            body["app"] = (
                {k: getattr(app, k) for k in APP_FIELDS if getattr(app, k)} if app else None
            )
            body.update(title=title, title_state=title_state)
            body.update(captures=list(captures), capture_state=capture_state)
    line = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise ProtocolError("oversized")
    return line


def decode(line: bytes) -> Message:
    """One line (without its newline) as a message; ``ProtocolError`` for anything else."""
    if len(line) > MAX_LINE:
        raise ProtocolError("oversized")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ProtocolError("malformed") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed")
    if type(data.get("v")) is not int or data["v"] != VERSION:  # not True, not 1.0
        raise ProtocolError("version" if "v" in data else "malformed")
    kind = data.get("type")
    fields = set(data) - {"v", "type"}
    if kind in ("hello", "idle", "browser") and not fields:
        bare: dict[str, Message] = {"hello": Hello(), "idle": Idle(), "browser": BrowserHello()}
        return bare[kind]
    if kind == "focus" and fields == {"lesson", "n", "match"}:
        category, family = catalog_match(data["match"])
        return Focus(_nonce(data["lesson"]), _count(data["n"], 1, 2**53), category, family)
    if kind == "refused" and fields == {"reason"}:
        return Refused(_text(data["reason"], MAX_FIELD))
    if kind == "monitor" and fields == {
        "lesson",
        "until",
        "sample_seconds",
        "titles",
        "extensions",
    }:
        return Monitor(
            lesson=_nonce(data["lesson"]),
            until=_number(data["until"]),
            sample_seconds=_count(data["sample_seconds"], 1, 3600),
            titles=_flag(data["titles"]),
            extensions=_extensions(data["extensions"]),
        )
    if kind == "sample" and fields == {
        "lesson", "n", "app", "app_state", "title", "title_state", "captures", "capture_state",
    }:  # fmt: skip
        return Sample(
            lesson=_nonce(data["lesson"]),
            n=_count(data["n"], 1, 2**53),
            app=_app(data["app"]),
            app_state=_state(data["app_state"]),
            title=None if data["title"] is None else _text(data["title"], MAX_TITLE),
            title_state=_state(data["title_state"]),
            captures=_extensions(data["captures"]),
            capture_state=_state(data["capture_state"]),
        )
    raise ProtocolError("malformed")


def catalog_match(value: object) -> tuple[str, str] | tuple[None, None]:
    """``{"category": ..., "app": ...}`` as two catalog ids, or ``null`` as (None, None)."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or set(value) != {"category", "app"}:
        raise ProtocolError("malformed")
    category, app = value["category"], value["app"]
    if not (isinstance(category, str) and CATALOG_ID.fullmatch(category)):
        raise ProtocolError("malformed")
    if not (isinstance(app, str) and CATALOG_ID.fullmatch(app)):
        raise ProtocolError("malformed")
    return category, app


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ProtocolError("malformed")
    return value


def _nonce(value: object) -> str:
    if not isinstance(value, str) or not _NONCE.fullmatch(value):
        raise ProtocolError("malformed")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**40:
        raise ProtocolError("malformed")
    return float(value)


def _count(value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError("malformed")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError("malformed")
    return value


def _state(value: object) -> State:
    for state in _STATES:
        if value == state:
            return state
    raise ProtocolError("malformed")


def _extensions(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_CAPTURES:
        raise ProtocolError("malformed")
    for item in value:
        if not isinstance(item, str) or not _EXTENSION.fullmatch(item):
            raise ProtocolError("malformed")
    return tuple(sorted(set(value)))


def _app(value: object) -> ProcessSeen | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= set(APP_FIELDS):
        raise ProtocolError("malformed")
    texts = {k: _text(value[k], MAX_FIELD) for k in APP_FIELDS if k in value}
    if any(c in texts.get("exe", "") for c in "/\\"):
        raise ProtocolError("malformed")  # a path, not a base name: the helper is not ours
    return ProcessSeen(
        name=texts.get("name"),
        exe=texts.get("exe"),
        bundle_id=texts.get("bundle_id"),
        flatpak_id=texts.get("flatpak_id"),
        snap_name=texts.get("snap_name"),
        store_package=texts.get("store_package"),
    )


@dataclass
class Lines:
    """Splits a byte stream into lines; more than ``MAX_LINE`` without a newline is oversized."""

    buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        *lines, rest = bytes(self.buffer).split(b"\n")
        if len(rest) > MAX_LINE or any(len(x) > MAX_LINE for x in lines):
            raise ProtocolError("oversized")
        self.buffer = bytearray(rest)
        return lines


@dataclass
class RateLimit:
    """A token bucket over ``now`` (monotonic seconds): ``BURST`` lines, then ``RATE`` a second."""

    tokens: float = BURST
    at: float | None = None

    def take(self, now: float) -> None:
        if self.at is not None:
            self.tokens = min(BURST, self.tokens + (now - self.at) * RATE)
        self.at = now
        if self.tokens < 1:
            raise ProtocolError("flood")
        self.tokens -= 1
