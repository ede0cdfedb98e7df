"""Properties of lesson-window arithmetic across daylight-saving changes in Europe/Amsterdam:
the CLI's reading of local times (``lessons add``, ``lessons list --date``) and the UTC lesson
times and window of the agent config."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from policies.wire import format_time, parse_time
from service import db
from service.actors import Actor
from service.cli import main as cli
from service.devices import agent_config, enrolment
from service.devices import registry as devices
from service.errors import InvalidRequest
from service.lessons import records as lessons
from service.models import School
from service.schools import registry as schools
from service.settings import Settings
from service.timetable_store import listing

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOUR = timedelta(hours=1)
UNIQUE = itertools.count()  # a group of its own for each example in the shared database


def last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def changes(year: int) -> tuple[date, date]:
    """The EU rule: summer time from the last Sunday of March to the last Sunday of October."""
    return last_sunday(year, 3), last_sunday(year, 10)


# Days near a change (a week either side) are where window arithmetic goes wrong, if it does.
near_change = st.builds(
    lambda year, which, shift: changes(year)[which] + timedelta(days=shift),
    st.integers(2000, 2037),
    st.integers(0, 1),
    st.integers(-8, 8),
)
any_day = st.dates(date(2000, 1, 1), date(2037, 12, 31))
wall_minute = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
school_minute = st.integers(7 * 60, 18 * 60).map(lambda m: time(m // 60, m % 60))


def the_school() -> School:
    return School(id=1, name="S", timezone="Europe/Amsterdam")


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'dst.sqlite3'}")
    db.migrate(engine)
    yield db.session_factory(engine)
    engine.dispose()


def summer_time(instant: datetime) -> bool:
    """The EU rule, independent of the tz database: summer time from 01:00 UTC on the last
    Sunday of March to 01:00 UTC on the last Sunday of October."""
    spring, autumn = changes(instant.year)
    begins = datetime.combine(spring, time(1), UTC)
    ends = datetime.combine(autumn, time(1), UTC)
    return begins <= instant < ends


def in_changing_hour(wall: datetime) -> str | None:
    """'gap' for the spring hour that does not exist, 'repeat' for the autumn hour that
    happens twice, else None."""
    if not time(2) <= wall.time() < time(3):
        return None
    spring, autumn = changes(wall.year)
    return {spring: "gap", autumn: "repeat"}.get(wall.date())


# --- the CLI reading local times ------------------------------------------------------------


@settings(max_examples=300)
@given(st.one_of(any_day, near_change), wall_minute)
def test_local_time_is_read_in_the_school_zone(day: date, at: time) -> None:
    """A time without an offset is the school's wall time: UTC+1 in winter, UTC+2 in summer;
    the missing spring hour reads as winter time and the repeated autumn hour as its first
    (summer-time) occurrence."""
    wall = datetime.combine(day, at)
    parsed = cli.parse_when(wall.isoformat(timespec="minutes"), the_school())
    assert parsed.tzinfo == UTC
    naive_utc = parsed.replace(tzinfo=None)
    changing = in_changing_hour(wall)
    if changing == "gap":
        assert naive_utc == wall - HOUR
    elif changing == "repeat":
        assert naive_utc == wall - 2 * HOUR
    else:
        assert naive_utc == wall - (2 * HOUR if summer_time(parsed) else HOUR)
        assert parsed.astimezone(AMSTERDAM).replace(tzinfo=None) == wall


@settings(max_examples=200)
@given(st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_time_with_an_offset_is_taken_as_written(moment: datetime) -> None:
    """A time written with an offset is that instant, whatever the school's zone."""
    moment = moment.replace(microsecond=0)
    for zone in (UTC, AMSTERDAM, ZoneInfo("America/New_York")):
        assert cli.parse_when(moment.astimezone(zone).isoformat(), the_school()) == moment


@settings(max_examples=200)
@given(near_change, school_minute, st.integers(5, 7 * 60))
def test_school_hours_lesson_lasts_its_wall_clock_length(day: date, at: time, minutes: int) -> None:
    """A lesson in school hours lasts what the wall clock says, on change days and around."""
    start_wall = datetime.combine(day, at)
    end_wall = start_wall + timedelta(minutes=minutes)  # at the latest 01:00 the next night
    start = cli.parse_when(start_wall.isoformat(), the_school())
    end = cli.parse_when(end_wall.isoformat(), the_school())
    assert end - start == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("start", "end", "real_hours"),
    [
        # Across the spring change the night is an hour shorter than the wall clock says...
        ("2026-03-28T20:00", "2026-03-29T08:00", 11),
        # ...and across the autumn change an hour longer, too long for a 12-hour lesson.
        ("2026-10-24T20:00", "2026-10-25T08:00", 13),
        ("2026-10-24T21:00", "2026-10-25T08:00", 12),
    ],
)
def test_night_lesson_across_a_change_is_measured_in_real_time(
    sessions: sessionmaker[Session], start: str, end: str, real_hours: int
) -> None:
    """The 12-hour limit of ``lessons add`` counts real hours, not wall-clock hours."""
    with sessions.begin() as session:
        school = schools.school(session)
        begin, finish = cli.parse_when(start, school), cli.parse_when(end, school)
        assert finish - begin == timedelta(hours=real_hours)
        if real_hours > 12:
            with pytest.raises(InvalidRequest, match="at most 12 hours"):
                lessons.add_lesson(
                    session, school=school, group="3B", start=begin, end=finish, now=begin
                )
            return
        lesson = lessons.add_lesson(
            session, school=school, group="3B", start=begin, end=finish, now=begin
        )
    assert lesson.end - lesson.start == timedelta(hours=real_hours)


# --- the database: listing by local date, and the agent config -------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(near_change, st.lists(wall_minute, min_size=1, max_size=4, unique=True))
def test_list_by_date_takes_the_local_day(
    sessions: sessionmaker[Session], day: date, ats: list[time]
) -> None:
    """``lessons list --date`` holds exactly the lessons starting on that local day, 23 or 25
    hours long on a change day."""
    group = f"list-{next(UNIQUE)}"
    now = datetime.now(UTC)
    with sessions.begin() as session:
        school = schools.school(session)
        wanted = set()
        for at in ats:
            for shift in (-1, 0, 1):  # the same wall time the day before and after, too
                start = cli.parse_when(
                    datetime.combine(day + timedelta(days=shift), at).isoformat(), school
                )
                lesson = lessons.add_lesson(
                    session, school=school, group=group, start=start, end=start + HOUR, now=now
                )
                if start.astimezone(AMSTERDAM).date() == day:
                    wanted.add(lesson.id)
        # The listing `lessons list --date` prints (first = last = the day).
        listed = listing.list_lessons(session, school=school, group=group, first=day, last=day)
    assert {row["id"] for row in listed} == wanted
    for row in listed:
        assert parse_time(row["start"], "start").astimezone(AMSTERDAM).date() == day


def config_for_lesson(
    sessions: sessionmaker[Session], day: date, at: time, skew_minutes: int
) -> tuple[bool, datetime, datetime]:
    """Add a lesson at ``at`` on ``day`` (wall time), fetch a device's config a week earlier
    on the wall clock (plus ``skew_minutes``): whether it is listed, its start and ``now``."""
    config = Settings(db="sqlite://", config_ahead_days=7, config_past_hours=12)
    group = f"config-{next(UNIQUE)}"
    with sessions.begin() as session:
        school = schools.school(session)
        start = cli.parse_when(datetime.combine(day, at).isoformat(), school)
        lesson = lessons.add_lesson(
            session,
            school=school,
            group=group,
            start=start,
            end=start + timedelta(minutes=50),
            now=start,
        )
        # ``now`` a week before the lesson on the wall clock, give or take up to three hours:
        # with a change in between, that is an hour more or less in real time.
        now_wall = datetime.combine(day, at) - timedelta(days=7, minutes=-skew_minutes)
        now = cli.parse_when(now_wall.isoformat(), school)
        code = enrolment.create_code(
            session,
            actor=Actor.operator(school),
            group=group,
            uses=1,
            lifetime=timedelta(days=30),
            now=now,
        )
        token = enrolment.enroll(
            session,
            code=code,
            platform="linux",
            agent_version="0.1.0",
            label=None,
            fingerprint=None,
            now=now,
        ).token
    with sessions.begin() as session:
        device = devices.device_for_token(session, token)
        built = agent_config.build_config(session, device=device, settings=config, now=now)
    listed = {item["id"]: item for item in built.body["lessons"]}
    if lesson.id in listed:
        item = listed[lesson.id]
        assert item["start"] == format_time(start) and item["start"].endswith("Z")
        wall = parse_time(item["start"], "start").astimezone(AMSTERDAM)
        assert (wall.date(), wall.time()) == (day, at)
    return lesson.id in listed, start, now


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(near_change, school_minute, st.integers(-3 * 60, 3 * 60))
def test_config_window_is_real_time_and_times_are_utc(
    sessions: sessionmaker[Session], day: date, at: time, skew_minutes: int
) -> None:
    """The config lists a lesson less than 7 days ahead in real elapsed time, and its UTC
    times read back as the wall times the lesson was added with."""
    listed, start, now = config_for_lesson(sessions, day, at, skew_minutes)
    assert listed == (start - now < timedelta(days=7))


@pytest.mark.parametrize(
    ("lesson_day", "listed"),
    [
        (date(2026, 3, 30), True),  # spring change between: the wall-clock week is 167 hours
        (date(2026, 10, 26), False),  # autumn change between: 169 hours
        (date(2026, 11, 30), False),  # no change: exactly 168 hours, the window's open end
    ],
)
def test_config_week_across_a_change(
    sessions: sessionmaker[Session], lesson_day: date, listed: bool
) -> None:
    """Seven days ahead is counted in real hours: a change between moves the edge an hour."""
    assert config_for_lesson(sessions, lesson_day, time(8, 30), 0)[0] is listed
