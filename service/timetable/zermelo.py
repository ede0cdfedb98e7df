"""Zermelo ``GET /api/v3/appointments`` responses to lesson occurrences.

The response is ``{"response": {"status": 200, ..., "data": [appointment, ...]}}``. Each
appointment is one version of a lesson: ``appointmentInstance`` stays the same across versions
and ``valid`` is false for versions that were replaced, so only valid versions count and the
instance is the lesson's identity (with the group, as one appointment can serve several
groups). ``start`` and ``end`` are UTC Unix seconds. ``cancelled`` gives a cancelled lesson;
``moved``, ``modified``, ``new`` and ``teacherChanged`` (a substitute) are kept as change flags
for the preview; ``online`` marks a remote lesson; ``hidden`` appointments are left out.
Sources: dutch-context.md §4.1 and tests/timetable/fixtures/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from service.timetable.errors import InputTooLarge, LimitExceeded, MalformedInput
from service.timetable.limits import Limits, check_window
from service.timetable.model import MAX_UID, ImportResult, Occurrence, Window, name_problem
from service.timetable.problems import Problems
from service.timetable.tally import Tally

LESSON_TYPES = ("lesson", "exam")
_FLAGS = (
    ("moved", "moved"),
    ("modified", "modified"),
    ("new", "new"),
    ("teacherChanged", "substitute"),
    ("locationChanged", "room_changed"),
    ("timeChanged", "time_changed"),
    ("groupChanged", "group_changed"),
)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_LATEST = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


class AppointmentError(ValueError):
    pass


def _load(data: bytes, name: str, limits: Limits) -> list[Any]:
    if len(data) > limits.max_bytes:
        raise InputTooLarge(
            "the response is larger than %(limit)s bytes",
            source=name,
            limit=format(limits.max_bytes, ","),
        )
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        raise MalformedInput(
            "not JSON: %(problem)s", source=name, line=line, problem=str(exc)[:120]
        ) from None
    response = document.get("response") if isinstance(document, dict) else None
    if not isinstance(response, dict):
        raise MalformedInput('not a Zermelo response: no "response" object', source=name)
    status = response.get("status")
    if status != 200:
        message = str(response.get("message", ""))[:200]
        raise MalformedInput(
            "Zermelo answered status %(status)r: %(message)s",
            source=name,
            status=status,
            message=message,
        )
    items = response.get("data")
    if not isinstance(items, list):
        raise MalformedInput('"response.data" is not a list', source=name)
    if len(items) > limits.max_occurrences:
        raise LimitExceeded(
            "more than %(limit)s appointments",
            source=name,
            limit=format(limits.max_occurrences, ","),
        )
    return items


def _integer(item: Mapping[str, Any], key: str, required: bool = True) -> int | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise AppointmentError(f"{key!r} must be a whole number, got {value!r:.40}")
    return value


def _flag(item: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = item.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise AppointmentError(f"{key!r} must be true or false, got {value!r:.40}")
    return value


def _names(item: Mapping[str, Any], key: str) -> list[str]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AppointmentError(f"{key!r} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def _instant(item: Mapping[str, Any], key: str) -> datetime:
    seconds = _integer(item, key)
    assert seconds is not None
    if not _EARLIEST <= seconds < _LATEST:
        raise AppointmentError(f"{key!r} {seconds} is not a time between 2000 and 2100")
    return datetime.fromtimestamp(seconds, UTC)


def _appointment(
    item: Any, source: str, default_group: str | None, types: Sequence[str], tally: Tally
) -> list[Occurrence]:
    if not isinstance(item, dict):
        raise AppointmentError("an appointment must be an object")
    instance = _integer(item, "appointmentInstance", required=False)
    ident = _integer(item, "id", required=instance is None)
    if not _flag(item, "valid", default=True):
        tally.skip("superseded")
        return []
    if _flag(item, "hidden"):
        tally.skip("hidden")
        return []
    kind = item.get("type", "lesson")
    if kind not in types:
        tally.skip("not_a_lesson")
        return []
    start, end = _instant(item, "start"), _instant(item, "end")
    if end <= start:
        raise AppointmentError(f"end {end:%Y-%m-%d %H:%M}Z is not after start")
    subject = ", ".join(_names(item, "subjects")) or None
    teachers, rooms = _names(item, "teachers"), _names(item, "locations")
    groups: list[str | None] = [*_names(item, "groups")] or [default_group]
    changes = tuple(label for key, label in _FLAGS if _flag(item, key))
    found = []
    for group in groups:
        teacher = teachers[0] if teachers else None
        room = ", ".join(rooms) or None
        wrong = name_problem(subject, group, teacher, room)
        if wrong:
            raise AppointmentError(wrong)
        uid = f"{instance if instance is not None else ident}" + (f"/{group}" if group else "")
        found.append(
            Occurrence(
                source=source,
                uid=uid[:MAX_UID],
                recurrence_id="",
                start=start,
                end=end,
                subject=subject,
                group=group,
                teacher=teacher,
                room=room,
                remote=_flag(item, "online"),
                cancelled=_flag(item, "cancelled"),
                changes=changes,
            )
        )
    return found


def import_zermelo(
    data: bytes,
    *,
    source: str,
    window: Window,
    name: str | None = None,
    default_group: str | None = None,
    types: Sequence[str] = LESSON_TYPES,
    limits: Limits | None = None,
    partial: bool = False,
) -> ImportResult:
    """Lesson occurrences of one appointments response, within ``window``."""
    name = name or source
    limits = limits or Limits()
    check_window(window, limits)
    items = _load(data, name, limits)
    problems = Problems(name, limits.max_problems)
    tally = Tally()
    occurrences: dict[str, Occurrence] = {}
    for index, item in enumerate(items):
        label = f"data[{index}]"
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            label += f" (id {item['id']})"
        try:
            found = _appointment(item, source, default_group, types, tally)
        except AppointmentError as exc:
            problems.add(f"{label}: {exc}")
            continue
        for occurrence in found:
            if occurrence.uid in occurrences:
                problems.add(f"{label}: appointment {occurrence.uid} appears twice as valid")
            elif window.overlaps(occurrence.start, occurrence.end):
                occurrences[occurrence.uid] = occurrence
            else:
                tally.skip("outside_window")
    return tally.result(source, window, occurrences.values(), problems.settle(partial))
