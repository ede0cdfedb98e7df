"""Shared pieces of the page builders: a lesson as a card, minutes, local times, CSV cells."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from policies import localtime
from policies.wire import parse_time
from service.web.i18n import Translate, labels

__all__ = [
    "Translate",
    "day_label",
    "lesson_card",
    "local",
    "minutes",
    "spreadsheet_cell",
    "status",
]


def minutes(seconds: int) -> int:
    """Whole minutes, rounded up: 20 seconds of a finding still shows as 1 minute."""
    return -(-seconds // 60)


def local(value: str, tz: ZoneInfo) -> datetime:
    return parse_time(value, "time").astimezone(tz)


def status(start: datetime, end: datetime, now: datetime, cancelled: bool) -> str:
    if cancelled:
        return "cancelled"
    if now < start:
        return "upcoming"
    return "in_progress" if now < end else "done"


def day_label(day: date, t: Translate) -> str:
    """ "Monday 23 November", in the reader's language."""
    return f"{t(labels.WEEKDAYS[day.weekday()])} {day.day} {t(labels.MONTHS[day.month])}"


def lesson_card(
    lesson: Mapping[str, Any], *, tz: ZoneInfo, now: datetime, t: Translate
) -> dict[str, Any]:
    """A lesson's JSON plus what a page shows of it: local day and times, and its state."""
    start, end = local(lesson["start"], tz), local(lesson["end"], tz)
    state = status(start, end, now, lesson["cancelled"])
    return {
        **lesson,
        "day": start.date().isoformat(),
        "day_label": day_label(start, t),
        "time_label": f"{localtime.clock(start, tz)}–{localtime.clock(end, tz)}",
        "status": state,
        "status_label": t(labels.LESSON_STATES[state]),
    }


def spreadsheet_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ would run as a
    formula (CSV injection), and names, reasons and labels are typed by people."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
