"""The platform catalog for class group chats: minimum ages, consent and closed platforms.

``parse_platforms`` validates the text of ``data/platforms.toml`` and names the file and line of
every problem; ``load_platforms`` reads the shipped file and is the only I/O here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any, Literal, cast

from policies.document import find_line, parse_toml
from policies.errors import PolicyError
from policies.model import Text

PlatformKind = Literal["messaging", "social_media", "school_platform"]
PLATFORM_KINDS: tuple[PlatformKind, ...] = ("messaging", "social_media", "school_platform")

Confidence = Literal["verified", "secondary", "guess"]
CONFIDENCES: tuple[Confidence, ...] = ("verified", "secondary", "guess")

SHIPPED_FILE = "platforms.toml"
WHATSAPP = "whatsapp"  # named by article B.1 itself, so the catalog must have it
AGE_RANGE = (1, 21)  # platform terms name 13, 16 or 18; anything outside this is a typo

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_URL = re.compile(r"^https?://[^\s/]+\.[^\s]{2,}$")
_HEADER = re.compile(r"^\s*\[\s*platform\s*\.\s*\"?([^\]\"]+?)\"?\s*\]")
_MAX_NAME = 60
_MAX_URL = 300
_REQUIRED = ("name", "kind", "closed_school_platform", "parental_consent_under_16", "confidence")
_FIELDS = {*_REQUIRED, "minimum_age", "source", "checked", "note"}

_Fail = Callable[..., PolicyError]


@dataclass(frozen=True)
class ChatPlatform:
    id: str
    name: str
    kind: PlatformKind
    closed: bool
    minimum_age: int | None
    consent_under_16: bool
    confidence: Confidence
    source: str | None
    checked: date
    note: Text


@dataclass(frozen=True)
class PlatformCatalog:
    platforms: Mapping[str, ChatPlatform]
    source: str
    digest: str  # of the file's text: a changed catalog means every chat is checked again

    def get(self, platform_id: str) -> ChatPlatform | None:
        return self.platforms.get(platform_id)

    def closed(self) -> tuple[ChatPlatform, ...]:
        return tuple(p for p in self.platforms.values() if p.closed)

    def __iter__(self) -> Iterator[ChatPlatform]:
        return iter(self.platforms.values())


def load_platforms() -> PlatformCatalog:
    """The shipped platform catalog; PolicyError if the file is broken."""
    text = (resources.files("policies") / "data" / SHIPPED_FILE).read_text(encoding="utf-8")
    return parse_platforms(text, SHIPPED_FILE)


def parse_platforms(text: str, source: str = SHIPPED_FILE) -> PlatformCatalog:
    """Validate a platform catalog's TOML text into a catalog, or raise PolicyError."""
    _refuse_duplicates(text, source)
    doc = parse_toml(text, source)
    extra = sorted(set(doc) - {"version", "platform"})
    if extra:
        raise PolicyError(
            f"unknown section '{extra[0]}'", source=source, line=_line(text, extra[0])
        )
    if doc.get("version", 1) != 1:
        raise PolicyError(f"version {doc['version']!r} is not supported", source=source)
    table = doc.get("platform")
    if not isinstance(table, dict) or not table:
        raise PolicyError("no [platform.<id>] tables", source=source)
    platforms: dict[str, ChatPlatform] = {}
    names: dict[str, str] = {}
    for pid, raw in table.items():
        platform = _platform(pid, raw, text, source)
        first = names.setdefault(platform.name.casefold(), pid)
        if first != pid:
            raise PolicyError(
                f"platform '{pid}' has the same name as '{first}': {platform.name!r}",
                source=source,
                line=find_line(text, f"platform.{pid}", needle="name"),
            )
        platforms[pid] = platform
    if WHATSAPP not in platforms:
        raise PolicyError(f"platform '{WHATSAPP}' is missing; article B.1 names it", source=source)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return PlatformCatalog(platforms=platforms, source=source, digest=digest)


def _platform(pid: str, raw: Any, text: str, source: str) -> ChatPlatform:
    header = f"platform.{pid}"

    def fail(problem: str, field: str | None = None) -> PolicyError:
        line = find_line(text, header, needle=field) if field else find_line(text, header)
        return PolicyError(f"platform '{pid}': {problem}", source=source, line=line)

    if not _ID.match(pid):
        raise fail("the id must be lower_snake_case")
    if not isinstance(raw, dict):
        raise fail("must be a table")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_FIELDS))
        raise fail(f"unknown field '{unknown[0]}' (allowed: {allowed})", unknown[0])
    missing = [f for f in _REQUIRED if f not in raw]
    if missing:
        raise fail(f"'{missing[0]}' is missing")
    name = raw["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise fail(f"name must be a text of 1 to {_MAX_NAME} characters", "name")
    kind = raw["kind"]
    if kind not in PLATFORM_KINDS:
        raise fail(f"kind {kind!r} is not one of {', '.join(PLATFORM_KINDS)}", "kind")
    closed = _bool(raw, "closed_school_platform", fail)
    if closed and kind != "school_platform":
        raise fail("only a school_platform can be a closed school platform", "kind")
    age = raw.get("minimum_age")
    low, high = AGE_RANGE
    if age is not None and (type(age) is not int or not low <= age <= high):
        raise fail(f"minimum_age must be a whole number from {low} to {high}", "minimum_age")
    confidence = raw["confidence"]
    if confidence not in CONFIDENCES:
        raise fail(f"confidence must be one of {', '.join(CONFIDENCES)}", "confidence")
    url = raw.get("source")
    if url is None and confidence != "guess":
        raise fail(f"a {confidence} entry needs its source URL", "confidence")
    if url is not None and (not isinstance(url, str) or len(url) > _MAX_URL or not _URL.match(url)):
        raise fail("source must be an http(s) URL", "source")
    checked = raw.get("checked")
    # A TOML date-time is a datetime, which is also a date: only a plain date is meant here.
    if not isinstance(checked, date) or isinstance(checked, datetime) or checked.year < 2018:
        raise fail("checked must be a date (YYYY-MM-DD) from 2018 on", "checked")
    return ChatPlatform(
        id=pid,
        name=name.strip(),
        kind=cast(PlatformKind, kind),
        closed=closed,
        minimum_age=age,
        consent_under_16=_bool(raw, "parental_consent_under_16", fail),
        confidence=cast(Confidence, confidence),
        source=url,
        checked=checked,
        note=_note(raw.get("note"), fail),
    )


def _bool(raw: dict[str, Any], field: str, fail: _Fail) -> bool:
    value = raw[field]
    if not isinstance(value, bool):
        raise fail(f"{field} must be true or false", field)
    return value


def _note(value: Any, fail: _Fail) -> Text:
    if (
        not isinstance(value, dict)
        or set(value) != {"nl", "en"}
        or not all(isinstance(v, str) and v.strip() for v in value.values())
    ):
        raise fail("note needs a non-empty 'nl' and 'en' text", "note")
    return Text(nl=value["nl"].strip(), en=value["en"].strip())


def _refuse_duplicates(text: str, source: str) -> None:
    """A platform written twice is named here with both lines, before TOML's terser error."""
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if not match:
            continue
        pid = match.group(1).strip()
        if pid in seen:
            raise PolicyError(
                f"duplicate platform '{pid}' (first defined at line {seen[pid]})",
                source=source,
                line=number,
            )
        seen[pid] = number


def _line(text: str, key: str) -> int | None:
    """The first line that starts the top-level key, as ``key = ...`` or ``[key...]``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().lstrip("[").strip().startswith(key):
            return number
    return None
