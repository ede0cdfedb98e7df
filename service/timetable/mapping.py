"""Per-source mapping from calendar text to lesson fields.

Exports put codes in free text: ``wi - 3B - jdv`` (subject, group, teacher) in one school,
``217 - A5wisB_2 - Stk`` (room, group, teacher) in another. A mapping says, for each of the
event's SUMMARY, LOCATION and DESCRIPTION, how to read it, as plain data (TOML or JSON)::

    summary = {split = " - ", fields = ["subject", "group", "teacher"]}
    location = "room"                          # the whole value is the room
    description = {regex = "Docent: (?P<teacher>[a-z]+)"}
    cancelled_markers = ["[x]"]                # in SUMMARY: cancelled; the marker is removed
    remote_markers = ["online"]                # in SUMMARY or LOCATION (any case): remote

``split`` needs exactly as many parts as ``fields``; ``"-"`` in ``fields`` skips a part. A
``regex`` must match from the start and names its groups after lesson fields. A value that does
not fit its rule leaves those fields empty and is counted, so the preview shows which events the
mapping missed. When several rules fill one field, SUMMARY wins over LOCATION over DESCRIPTION.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.timetable.errors import MappingError

FIELDS = ("subject", "group", "teacher", "room")
PROPERTIES = ("summary", "location", "description")
SKIP = "-"
MAX_PATTERN = 500

PRESETS: dict[str, dict[str, Any]] = {
    # "wi - 3B - jdv": subject, group, teacher; the room in LOCATION.
    "vak-klas-docent": {
        "summary": {"split": " - ", "fields": ["subject", "group", "teacher"]},
        "location": "room",
    },
    # SOMtoday's lesson title "217 - A5wisB_2 - Stk": room, lesson group, teacher
    # (dutch-context.md §4.2, from the unofficial API documentation).
    "lokaal-lesgroep-docent": {
        "summary": {"split": " - ", "fields": ["room", "group", "teacher"]},
    },
    # Only the subject in SUMMARY and the room in LOCATION: add the group on import.
    "vak": {"summary": "subject", "location": "room"},
}


@dataclass(frozen=True)
class Rule:
    """How one calendar property is read: whole, split at a separator, or by a regex."""

    whole: str | None = None
    separator: str | None = None
    fields: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None

    def read(self, value: str) -> dict[str, str] | None:
        """The fields this value gives, or None when it does not fit the rule."""
        if self.whole is not None:
            return {self.whole: value} if self.whole != SKIP else {}
        if self.separator is not None:
            parts = [part.strip() for part in value.split(self.separator)]
            if len(parts) != len(self.fields):
                return None
            return {f: p for f, p in zip(self.fields, parts, strict=True) if f != SKIP and p}
        assert self.pattern is not None
        match = self.pattern.match(value)
        if match is None:
            return None
        return {k: v.strip() for k, v in match.groupdict().items() if v and v.strip()}


@dataclass(frozen=True)
class SourceMapping:
    rules: Mapping[str, Rule]
    cancelled_markers: tuple[str, ...] = ()
    remote_markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapped:
    subject: str | None
    group: str | None
    teacher: str | None
    room: str | None
    remote: bool
    cancelled: bool
    unmatched: tuple[str, ...]  # the properties whose value did not fit their rule


def _field(value: Any, where: str) -> str:
    if value not in (*FIELDS, SKIP):
        raise MappingError(
            "%(where)s: %(value)r is not one of %(fields)s or '-'",
            where=where,
            value=value,
            fields=", ".join(FIELDS),
        )
    return str(value)


def _markers(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(m, str) and m.strip() for m in value):
        raise MappingError("%(where)s must be a list of non-empty strings", where=where)
    return tuple(m.strip() for m in value)


def _rule(value: Any, where: str) -> Rule:
    if isinstance(value, str):
        return Rule(whole=_field(value, where))
    if not isinstance(value, Mapping):
        raise MappingError(
            "%(where)s must be a field name or a table with split or regex", where=where
        )
    keys = set(value)
    if keys == {"split", "fields"}:
        separator, fields = value["split"], value["fields"]
        if not isinstance(separator, str) or not separator:
            raise MappingError("%(where)s.split must be a non-empty string", where=where)
        if not isinstance(fields, list) or not fields:
            raise MappingError("%(where)s.fields must be a non-empty list", where=where)
        names = tuple(_field(f, f"{where}.fields") for f in fields)
        _no_repeats([n for n in names if n != SKIP], where)
        return Rule(separator=separator, fields=names)
    if keys == {"regex"}:
        source = value["regex"]
        if not isinstance(source, str) or not 0 < len(source) <= MAX_PATTERN:
            raise MappingError(
                "%(where)s.regex must be a string of 1 to %(limit)s characters",
                where=where,
                limit=MAX_PATTERN,
            )
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise MappingError(
                "%(where)s.regex does not compile: %(problem)s", where=where, problem=exc
            ) from None
        if not pattern.groupindex:
            raise MappingError("%(where)s.regex names no group, e.g. (?P<subject>...)", where=where)
        for group in pattern.groupindex:
            _field(group, f"{where}.regex group")
        return Rule(pattern=pattern)
    raise MappingError(
        "%(where)s needs either split and fields, or regex; got %(keys)s",
        where=where,
        keys=sorted(keys),
    )


def _no_repeats(names: list[str], where: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise MappingError(
            "%(where)s.fields names %(names)s more than once",
            where=where,
            names=", ".join(repeated),
        )


def parse_mapping(data: Mapping[str, Any] | str | None, *, name: str = "mapping") -> SourceMapping:
    """Validate a mapping document (or a preset's name); None means the ``vak`` preset."""
    if data is None:
        data = "vak"
    if isinstance(data, str):
        if data not in PRESETS:
            raise MappingError(
                "no mapping preset %(name)r; presets: %(presets)s",
                source=name,
                name=data,
                presets=", ".join(PRESETS),
            )
        data = PRESETS[data]
    unknown = set(data) - {*PROPERTIES, "cancelled_markers", "remote_markers"}
    if unknown:
        raise MappingError("unknown keys %(keys)s", source=name, keys=sorted(unknown))
    try:
        rules = {p: _rule(data[p], p) for p in PROPERTIES if p in data}
        return SourceMapping(
            rules=rules,
            cancelled_markers=_markers(data.get("cancelled_markers", []), "cancelled_markers"),
            remote_markers=_markers(data.get("remote_markers", []), "remote_markers"),
        )
    except MappingError as exc:
        raise exc.at(name) from None


def apply_mapping(
    mapping: SourceMapping, *, summary: str, location: str, description: str, max_chars: int
) -> Mapped:
    """Read one event's lesson fields; pure, so the preview and the import agree."""
    values = {
        "summary": summary[:max_chars],
        "location": location[:max_chars],
        "description": description[:max_chars],
    }
    cancelled = False
    for marker in mapping.cancelled_markers:
        if marker in values["summary"]:
            cancelled = True
            values["summary"] = values["summary"].replace(marker, " ")
    values = {k: " ".join(v.split()) for k, v in values.items()}
    lowered = (values["summary"].casefold(), values["location"].casefold())
    remote = any(m.casefold() in text for m in mapping.remote_markers for text in lowered)
    found: dict[str, str] = {}
    unmatched: list[str] = []
    for prop in PROPERTIES:
        rule = mapping.rules.get(prop)
        if rule is None or not values[prop]:
            continue
        read = rule.read(values[prop])
        if read is None:
            unmatched.append(prop)
            continue
        for key, value in read.items():
            found.setdefault(key, value)
    return Mapped(
        subject=found.get("subject"),
        group=found.get("group"),
        teacher=found.get("teacher"),
        room=found.get("room"),
        remote=remote,
        cancelled=cancelled,
        unmatched=tuple(unmatched),
    )
