"""Scheduling decisions as pure functions of (config, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.config import Lesson, parse_config
from agent.schedule import (
    PlanState,
    boundaries,
    clock_jumped,
    clock_offset,
    clock_set_forward,
    current_lesson,
    next_windows,
    plan,
    school_zone,
    session_start,
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


# T0 is 09:30 in Amsterdam on Tuesday 24 November 2026; the day's window is 09:00-11:52.
@pytest.mark.parametrize(
    ("now", "state", "lesson", "boundary", "poll_at"),
    [
        # Idle in the window, polled a minute ago: the next idle poll in 15 minutes; the
        # lesson start is the boundary to wake for.
        (
            T0 - 5 * M,
            PlanState(last_poll=T0 - 6 * M, last_contact=T0 - 6 * M),
            None,
            T0,
            T0 + 9 * M,
        ),
        # In a lesson: the config poll every minute; the boundary is the lesson's end.
        (T0 + 10 * M, PlanState(last_poll=T0 + 10 * M), "l_1", T0 + 50 * M, T0 + 11 * M),
        # A poll long overdue is due now.
        (T0 + 10 * M, PlanState(last_poll=T0 - 60 * M), "l_1", T0 + 50 * M, T0 + 10 * M),
        # Never polled since start-up (or a clock jump), inside the window: now.
        (T0 + 60 * M, PlanState(), "l_2", T0 + 110 * M, T0 + 60 * M),
        # Before the window, the day's morning contact made: at the window's start.
        (
            T0 - 120 * M,
            PlanState(last_poll=T0 - 125 * M, last_contact=T0 - 125 * M),
            None,
            T0,
            T0 - 30 * M,
        ),
        # The evening after the last lesson, the day's contacts made: none until the next
        # school-day morning, 07:00 in Amsterdam.
        (
            T0 + 600 * M,
            PlanState(last_poll=T0 + 140 * M, last_contact=T0 + 140 * M),
            None,
            None,
            T0 + (21 * 60 + 30) * M,
        ),
    ],
)
def test_plan(
    now: datetime,
    state: PlanState,
    lesson: str | None,
    boundary: datetime | None,
    poll_at: datetime,
) -> None:
    """The plan is what to monitor now, the boundary to wake for and the next config poll."""
    result = plan(_config(), state, now)
    assert (result.lesson.id if result.lesson else None) == lesson
    assert result.boundary == boundary
    assert result.poll_at == poll_at


@pytest.mark.parametrize(
    ("now", "state", "upload_at"),
    [
        # Nothing queued: no upload.
        (T0 + 51 * M, PlanState(last_contact=T0 + 50 * M), None),
        # Due within the window: when due.
        (T0 + 51 * M, PlanState(upload_due=T0 + 52 * M, last_contact=T0 + 50 * M), T0 + 52 * M),
        # Due but backing off past the window's end: the next school-day morning.
        (
            T0 + 51 * M,
            PlanState(upload_due=T0 + 200 * M, last_contact=T0 + 50 * M),
            T0 + (21 * 60 + 30) * M,
        ),
        # The day's morning contact began a minute ago: the upload goes with it.
        (
            T0 - 149 * M,
            PlanState(upload_due=T0 - 149 * M, last_contact=T0 - 150 * M, session=T0 - 150 * M),
            T0 - 149 * M,
        ),
    ],
)
def test_plan_uploads_only_in_contact_windows(
    now: datetime, state: PlanState, upload_at: datetime | None
) -> None:
    """Queued summaries leave in a contact window (or the once-a-day contact they join)."""
    assert plan(_config(), state, now).upload_at == upload_at


@pytest.mark.parametrize(
    ("now", "enrolled_at", "poll_at"),
    [
        # Enrolled a minute ago, at 20:00 on a Tuesday: the first config fetch at once.
        (T0 + 630 * M, T0 + 629 * M, T0 + 630 * M),
        # Enrolled a week ago, started at 20:00 without a config: the next school morning.
        (T0 + 630 * M, T0 - 7 * 24 * 60 * M, T0 + (21 * 60 + 30) * M),
        # Started at 10:00 on a school day without a config: the day's contact, at once.
        (T0 + 30 * M, None, T0 + 30 * M),
    ],
)
def test_plan_without_a_config(
    now: datetime, enrolled_at: datetime | None, poll_at: datetime
) -> None:
    """A device without a timetable fetches one right after enrolment, else in school hours
    (of the device's own zone: there is no config to name the school's)."""
    device = ZoneInfo("Europe/Amsterdam")
    result = plan(None, PlanState(enrolled_at=enrolled_at, zone=device), now)
    assert result.lesson is None and result.boundary is None
    assert result.poll_at == poll_at


def test_the_school_zone_comes_from_the_config_else_the_device() -> None:
    """The school day is reckoned in the config's ``school.timezone``, else the device's zone."""
    named = parse_config(config_body([]), etag=None)
    assert str(school_zone(named, UTC)) == "Europe/Amsterdam"
    unnamed = parse_config(config_body([], school={"name": "Demo"}), etag=None)
    assert school_zone(unnamed, UTC) is UTC
    wrong = parse_config(config_body([], school={"timezone": "Mars/Olympus"}), etag=None)
    assert school_zone(wrong, UTC) is UTC


@pytest.mark.parametrize(
    ("last", "began", "now", "expected"),
    [
        (None, None, T0, T0),  # the first contact ever begins a run
        (T0, T0, T0 + M, T0),  # a minute later: the same run
        (T0 + M, T0, T0 + 3 * M, T0 + 3 * M),  # past CONTACT_SESSION: a new run, never extended
    ],
)
def test_session_start(last, began, now, expected) -> None:
    """A run of contacts lasts CONTACT_SESSION from its first request."""
    assert session_start(last, began, now) == expected


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


@pytest.mark.parametrize(
    ("wall", "monotonic", "slept", "forward"),
    [
        (3600, 0, None, 0),  # the OS does not say: taken for a sleep
        (3600, 0, 3600, 0),  # a sleep of an hour
        (3600, 0, 0, 3600),  # set an hour forward
        (3600, 600, 1800, 1200),  # ten minutes passed, half an hour asleep, 20 minutes set
        (64, 60, 0, 0),  # within the tolerance
        (-3600, 0, 0, 0),  # set back: handled on its own
    ],
)
def test_clock_set_forward(wall: int, monotonic: int, slept: int | None, forward: int) -> None:
    seconds = timedelta(seconds=1)
    assert (
        clock_set_forward(
            wall * seconds, monotonic * seconds, None if slept is None else slept * seconds
        )
        == forward * seconds
    )
