"""A weekly pattern for schools without a timetable export (primary schools with blocks).

An admin writes a group's blocks per weekday (``08:30-10:00 rekenen; 10:15-11:45 taal``) and a
date range; ``generate`` turns that into occurrences, leaving out days in a holiday of the
school's region. Each occurrence is keyed by weekday and block number (``uid``) and its date
(``recurrence_id``), so generating again after a change updates the same lessons through the
ordinary sync plan instead of adding a second set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.timetable.errors import N_, LimitExceeded, MalformedInput
from service.timetable.holidays import Holiday, holiday_at
from service.timetable.limits import Limits
from service.timetable.model import MAX_SUBJECT, ImportResult, Occurrence, Window, name_problem

# Where a problem of a weekday's blocks is, and the start of each lesson's uid.
WEEKDAYS = (
    N_("monday"),
    N_("tuesday"),
    N_("wednesday"),
    N_("thursday"),
    N_("friday"),
    N_("saturday"),
    N_("sunday"),
)
MAX_BLOCKS = 12
MAX_TEXT = 1000
_BLOCK = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})(?:\s+(.*))?$")


@dataclass(frozen=True)
class Block:
    start: time
    end: time
    subject: str | None = None


@dataclass(frozen=True)
class Pattern:
    group: str
    first: date
    last: date  # inclusive
    days: Mapping[int, tuple[Block, ...]]  # weekday (0 is Monday) to its blocks, in order
    teacher: str | None = None
    room: str | None = None


def _clock(hour: str, minute: str, where: str) -> time:
    if int(hour) > 23 or int(minute) > 59:
        raise MalformedInput(
            "%(hour)s:%(minute)s is not a time of day", source=where, hour=hour, minute=minute
        )
    return time(int(hour), int(minute))


def parse_blocks(text: str, *, weekday: int) -> tuple[Block, ...]:
    """The blocks of one weekday, separated by ``;`` or new lines, in order, not overlapping."""
    where = WEEKDAYS[weekday]
    if len(text) > MAX_TEXT:
        raise MalformedInput("longer than %(limit)s characters", source=where, limit=MAX_TEXT)
    parts = [p.strip() for p in re.split(r"[;\n]", text) if p.strip()]
    if len(parts) > MAX_BLOCKS:
        raise MalformedInput("more than %(limit)s blocks", source=where, limit=MAX_BLOCKS)
    blocks: list[Block] = []
    for number, part in enumerate(parts, 1):
        found = _BLOCK.match(part)
        if found is None:
            raise MalformedInput(
                "block %(number)s %(text)r is not like 08:30-10:00 subject",
                source=where,
                number=number,
                text=part[:40],
            )
        start = _clock(found[1], found[2], where)
        end = _clock(found[3], found[4], where)
        subject = (found[5] or "").strip() or None
        if not start < end:
            raise MalformedInput(
                "block %(number)s ends before it starts", source=where, number=number
            )
        if blocks and start < blocks[-1].end:
            raise MalformedInput(
                "block %(number)s starts before block %(previous)s ends",
                source=where,
                number=number,
                previous=number - 1,
            )
        problem = name_problem(subject, None, None, None)
        if problem is not None or (subject and len(subject) > MAX_SUBJECT):
            raise MalformedInput(
                "block %(number)s: %(problem)s",
                source=where,
                number=number,
                problem=problem or N_("subject too long"),
            )
        blocks.append(Block(start, end, subject))
    return tuple(blocks)


def window_of(pattern: Pattern, tz: ZoneInfo, limits: Limits) -> Window:
    if pattern.last < pattern.first:
        raise MalformedInput("the last day is before the first", source=N_("dates"))
    window = Window(
        datetime.combine(pattern.first, time(), tz),
        datetime.combine(pattern.last + timedelta(days=1), time(), tz),
    )
    if window.end - window.start > limits.max_window:
        raise LimitExceeded(
            "a pattern covers at most %(limit)s days",
            source=N_("dates"),
            limit=limits.max_window.days,
        )
    return window


def generate(
    pattern: Pattern,
    *,
    source: str,
    tz: ZoneInfo,
    holidays: Sequence[Holiday] = (),
    region: str | None = None,
    include_advised: bool = True,
    limits: Limits | None = None,
) -> ImportResult:
    """The pattern's lessons from ``first`` to ``last``; days in a holiday are left out."""
    limits = limits or Limits()
    window = window_of(pattern, tz, limits)
    problem = name_problem(None, pattern.group, pattern.teacher, pattern.room)
    if problem is not None:
        raise MalformedInput("%(problem)s", source=source, problem=problem)
    found, skipped = [], 0
    day = pattern.first
    while day <= pattern.last:
        for number, block in enumerate(pattern.days.get(day.weekday(), ()), 1):
            start = datetime.combine(day, block.start, tz).astimezone(UTC)
            if region is not None and holiday_at(
                start, region, holidays, tz, include_advised=include_advised
            ):
                skipped += 1
                continue
            found.append(
                Occurrence(
                    source=source,
                    uid=f"{WEEKDAYS[day.weekday()]}-{number}",
                    recurrence_id=day.isoformat(),
                    start=start,
                    end=datetime.combine(day, block.end, tz).astimezone(UTC),
                    subject=block.subject,
                    group=pattern.group,
                    teacher=pattern.teacher,
                    room=pattern.room,
                )
            )
            if len(found) > limits.max_occurrences:
                raise LimitExceeded(
                    "more than %(limit)s lessons", source=source, limit=limits.max_occurrences
                )
        day += timedelta(days=1)
    return ImportResult(
        source=source,
        window=window,
        occurrences=tuple(found),
        skipped={"holiday": skipped} if skipped else {},
    )
