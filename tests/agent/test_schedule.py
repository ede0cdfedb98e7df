"""Scheduling decisions as pure functions of (config, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.config import Lesson, parse_config
from agent.schedule import (
    boundaries,
    clock_jumped,
    clock_offset,
    current_lesson,
    next_windows,
    plan,
)
from tests.agent.helpers import config_body

T0 = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
M = timedelta(minutes=1)
FIRST = Lesson("l_1", T0, T0 + 50 * M)
SECOND = Lesson("l_2", T0 + 60 * M, T0 + 110 * M)
CANCELLED = Lesson("l_3", T0 + 120 * M, T0 + 170 * M, cancelled=True)
LESSONS = [FIRST, SECOND, CANCELLED]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0 - M, None),  # before the first lesson
        (T0, FIRST),  # the start is inside
        (T0 + 49 * M, FIRST),
        (T0 + 50 * M, None),  # the end is outside: the break
        (T0 + 65 * M, SECOND),
        (T0 + 130 * M, None),  # cancelled lessons are never monitored
        (T0 + 24 * 60 * M, None),  # long after
    ],
)
def test_current_lesson(now: datetime, expected: Lesson | None) -> None:
    """Only a lesson that is running and not cancelled is monitored."""
    assert current_lesson(LESSONS, now) == expected


def test_overlapping_lessons_pick_the_earliest() -> None:
    """Two overlapping lessons (a timetable error) give one, stable choice."""
    late = Lesson("l_9", T0 + 10 * M, T0 + 40 * M)
    assert current_lesson([late, FIRST], T0 + 20 * M) == FIRST


def test_boundaries_skip_cancelled_and_past() -> None:
    """The boundaries to wake for are future starts and ends of lessons that will run."""
    assert boundaries(LESSONS, T0 + 10 * M) == [T0 + 50 * M, T0 + 60 * M, T0 + 110 * M]


def test_next_windows_include_the_running_lesson() -> None:
    """explain and status show the running lesson and the next ones, not cancelled ones."""
    assert next_windows(LESSONS, T0 + 10 * M) == [FIRST, SECOND]


def _config():
    return parse_config(config_body([(x.id, x.start, x.end) for x in (FIRST, SECOND)]), etag=None)


@pytest.mark.parametrize(
    ("now", "last_poll", "lesson", "wake_at"),
    [
        # Idle: wake at the lesson start, which comes before the 15-minute poll.
        (T0 - 5 * M, T0 - 6 * M, None, T0),
        # Idle and far from a lesson: the idle poll is the next wake-up.
        (T0 - 60 * M, T0 - 60 * M, None, T0 - 45 * M),
        # In a lesson: the config poll every minute comes first.
        (T0 + 10 * M, T0 + 10 * M, "l_1", T0 + 11 * M),
        # A poll long overdue is due now.
        (T0 + 10 * M, T0 - 60 * M, "l_1", T0 + 10 * M),
    ],
)
def test_plan(now: datetime, last_poll: datetime, lesson: str | None, wake_at: datetime) -> None:
    """The plan is what to monitor now and the next moment anything must be decided."""
    result = plan(_config(), now, last_poll)
    assert (result.lesson.id if result.lesson else None) == lesson
    assert result.wake_at == wake_at


SENT = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Tue, 24 Nov 2026 08:00:00 GMT", timedelta(0)),
        ("Tue, 24 Nov 2026 08:00:01 GMT", timedelta(0)),  # within the header's resolution
        # A header renewed once a second (uvicorn) is up to 2 s old: the same clock still.
        ("Tue, 24 Nov 2026 07:59:58 GMT", timedelta(0)),
        # The header names a whole second: the collector's clock was in its middle.
        ("Tue, 24 Nov 2026 08:05:00 GMT", timedelta(minutes=5, milliseconds=500)),  # 5 min slow
        ("Tue, 24 Nov 2026 07:00:00 GMT", timedelta(hours=-1, milliseconds=500)),  # an hour fast
        (None, None),
        ("", None),
        ("yesterday", None),
        ("Tue, 24 Nov 2026 08:00:00", None),  # no zone: not an HTTP date, unusable
    ],
)
def test_clock_offset(header: str | None, expected: timedelta | None) -> None:
    """The collector's clock minus the device's, from the Date header at the request midpoint."""
    assert clock_offset(header, SENT, SENT) == expected


@pytest.mark.parametrize(
    ("wall", "mono", "jumped"),
    [
        (60, 60, False),
        (61, 60, False),  # scheduling noise
        (3600 + 60, 60, True),  # an hour of sleep: the monotonic clock did not run
        (60 - 3600, 60, True),  # the clock was set back (or DST handled wrongly by the OS)
    ],
)
def test_clock_jumped(wall: int, mono: int, jumped: bool) -> None:
    """Wall and monotonic clocks that disagree mean sleep, resume or a clock change."""
    assert clock_jumped(timedelta(seconds=wall), timedelta(seconds=mono)) is jumped
