"""The bounds every import runs within, so a hostile or broken file cannot exhaust the collector.

Measured on one core: icalendar parses about 0.75 MB of timetable per second and needs about
30 MB of memory per MB of input, so the default size limit keeps a parse under about 15 s and
300 MB. Recurrences are expanded only over the import window, and before expanding anything
the importer estimates the work each recurrence rule needs and refuses what is over the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.timetable.errors import LimitExceeded
from service.timetable.model import Window

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * MIB
    max_occurrences: int = 100_000
    max_window: timedelta = timedelta(days=400)
    max_expansion_steps: int = 1_000_000  # repetitions a rule generates up to the window's end
    max_problems: int = 50  # problems listed before the rest are only counted
    # Longer events are not lessons (school trips, exam weeks): monitoring them would run all
    # day. Matches service.lessons.MAX_LESSON. None keeps everything.
    max_duration: timedelta | None = timedelta(hours=12)
    max_field_chars: int = 1000  # SUMMARY, LOCATION, DESCRIPTION are cut here before mapping


def school_year(today: date, tz: ZoneInfo) -> Window:
    """The school year containing ``today``: 1 August 00:00 to the next 1 August, local time."""
    first = today.year if today.month >= 8 else today.year - 1
    return Window(
        datetime.combine(date(first, 8, 1), time(), tz),
        datetime.combine(date(first + 1, 8, 1), time(), tz),
    )


def dates_window(first: date, last: date, tz: ZoneInfo) -> Window:
    """From the start of ``first`` to the end of ``last`` (inclusive), local time."""
    if last < first:
        raise ValueError(f"the window's last day {last} is before its first day {first}")
    return Window(
        datetime.combine(first, time(), tz), datetime.combine(last + timedelta(days=1), time(), tz)
    )


def check_window(window: Window, limits: Limits) -> None:
    if window.end - window.start > limits.max_window:
        raise LimitExceeded(
            "the import window %(first)s to %(last)s is longer than %(limit)s days; import one "
            "school year at a time",
            first=window.start.date(),
            last=window.end.date(),
            limit=limits.max_window.days,
        )
