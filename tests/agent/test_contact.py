"""When the agent may talk to the collector: around the school day only (issue 15, point 3).

Times are written in Amsterdam time; Monday 2026-11-23 to Sunday 2026-11-29 (CET, UTC+1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.config import Lesson
from agent.schedule import CONTACT_LEAD, CONTACT_TAIL, contact_windows, next_contact

AMS = ZoneInfo("Europe/Amsterdam")
SPREAD = timedelta(minutes=2)


def at(day: int, hhmm: str) -> datetime:
    """November ``day``, 2026, at ``hhmm`` Amsterdam time, as UTC."""
    return datetime(2026, 11, day, int(hhmm[:2]), int(hhmm[2:]), tzinfo=AMS).astimezone(UTC)


def lesson(n: int, day: int, start: str, end: str, cancelled: bool = False) -> Lesson:
    return Lesson(f"l_{n}", at(day, start), at(day, end), cancelled=cancelled)


# Tuesday: three lessons; Wednesday: one; Thursday: one cancelled (no lesson that day).
WEEK = [
    lesson(1, 24, "0830", "0920"),
    lesson(2, 24, "0920", "1010"),
    lesson(3, 24, "1400", "1450"),
    lesson(4, 25, "1030", "1120"),
    lesson(5, 26, "0830", "0920", cancelled=True),
]
WINDOWS = contact_windows(WEEK, SPREAD)


def test_one_window_per_school_day_from_before_the_first_lesson_to_after_the_last_upload() -> None:
    assert [
        (at(24, "0830") - CONTACT_LEAD, at(24, "1450") + SPREAD + CONTACT_TAIL),
        (at(25, "1030") - CONTACT_LEAD, at(25, "1120") + SPREAD + CONTACT_TAIL),
    ] == WINDOWS


@pytest.mark.parametrize(
    ("now", "last_contact", "expected"),
    [
        # Inside Tuesday's window, between lessons too: at once.
        (at(24, "0815"), at(24, "0805"), at(24, "0815")),
        (at(24, "1200"), at(24, "1010"), at(24, "1200")),
        # Tuesday evening, already in contact that day: Wednesday's window, not the evening.
        (at(24, "1900"), at(24, "1500"), at(25, "0700")),
        (at(24, "2330"), at(24, "1500"), at(25, "0700")),
        # Wednesday 07:00 is a school-day morning: once, to learn the timetable.
        (at(25, "0700"), at(24, "1500"), at(25, "0700")),
        # Wednesday 08:00 after that contact: the window before the 10:30 lesson.
        (at(25, "0800"), at(25, "0700"), at(25, "1030") - CONTACT_LEAD),
        # Thursday (only a cancelled lesson) at 10:00, not yet in contact that day: once.
        (at(26, "1000"), at(25, "1200"), at(26, "1000")),
        # ... and after that contact, nothing more that day: Friday morning.
        (at(26, "1005"), at(26, "1000"), at(27, "0700")),
        # Friday evening: not the weekend, Monday morning.
        (at(27, "2000"), at(27, "0900"), at(30, "0700")),
        # Saturday and Sunday, switched on at home: Monday morning.
        (at(28, "1100"), at(27, "0900"), at(30, "0700")),
        (at(29, "1500"), None, at(30, "0700")),
        # Never contacted and switched on on a school day after school hours: next morning.
        (at(26, "1800"), None, at(27, "0700")),
    ],
)
def test_the_agent_talks_to_the_collector_only_around_school_days(
    now: datetime, last_contact: datetime | None, expected: datetime
) -> None:
    assert next_contact(now, WINDOWS, local=AMS, last_contact=last_contact) == expected


def test_no_contact_in_an_evening_night_or_weekend_over_a_simulated_week() -> None:
    """Stepping a fake clock through the week in 5-minute steps, as a poll every 5 minutes
    would: every moment the agent may contact is in a window or the once-a-day morning hours
    of a weekday, and there is at most one contact outside windows per day."""
    moment, last = at(23, "0000"), None
    outside: dict[object, int] = {}
    while moment < at(30, "0000"):
        when = next_contact(moment, WINDOWS, local=AMS, last_contact=last)
        if when == moment:
            local = moment.astimezone(AMS)
            in_window = any(s <= moment < e for s, e in WINDOWS)
            assert in_window or (local.weekday() < 5 and 7 <= local.hour < 17), local
            if not in_window:
                outside[local.date()] = outside.get(local.date(), 0) + 1
            last = moment
        moment += timedelta(minutes=5)
    assert outside and all(n == 1 for n in outside.values())
    assert {d.weekday() for d in outside} <= {0, 1, 2, 3, 4}
