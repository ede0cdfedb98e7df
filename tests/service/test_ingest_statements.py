"""The report transaction's statements run on the driver past SQLAlchemy
(``service.ingest.statements``): what they store is what the ORM stores, byte for byte on SQLite
(whose times are text compared as text by every other query), and what they read is what the
ORM reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.dialects.sqlite.base import DATETIME, SQLiteDialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from policies.wire import parse_summary
from service.devices import registry as devices
from service.ingest import statements
from service.ingest import summaries as ingest
from service.models import Device, DeviceLessonSummary, Lesson, School
from tests.support.clock import FakeClock
from tests.support.collector import World, enrol, finding, summary

HOUR = timedelta(hours=1)


def sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME type stores for a naive UTC value."""
    bind = DATETIME().bind_processor(SQLiteDialect())  # type: ignore[no-untyped-call]
    assert bind is not None
    return str(bind(value))


COLUMNS = "report_id, device_id, lesson_id, received_at, started_at, ended_at, " + (
    "seconds_monitored, gaps, dropped, summary"
)


def _device(sessions: sessionmaker[Session], code: str, clock: FakeClock) -> Device:
    with sessions.begin() as session:
        token = enrol(session, code, clock()).token
    with sessions.begin() as session:
        return devices.device_for_token(session, token)


def _as_stored(session: Session, report_id: str) -> tuple[object, ...]:
    """The row as the database holds it, read as text past every type processor."""
    row = session.execute(
        text(f"SELECT {COLUMNS} FROM device_lesson_summaries WHERE report_id = :id"),
        {"id": report_id},
    ).one()
    return tuple(row)


def test_a_stored_summary_is_the_row_the_orm_would_have_written(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """The same summary stored by ingestion and written as an ORM object: the same values in
    the database, in the same form (times with microseconds, offsets and JSON as the ORM's)."""
    device = _device(sessions, world.code_3b, clock)
    # A time with microseconds and one given with an offset: the forms most easily diverged.
    clock.now = clock.now.replace(microsecond=123456)
    item = summary(world.lesson_3b, [finding()])
    with sessions.begin() as session:
        [result] = ingest.ingest_batch(
            session, device=device, items=[item], now=clock(), future_tolerance=HOUR
        )
    assert result.status == "accepted"
    parsed = parse_summary(item)
    twin_id = str(uuid.uuid4())
    with sessions.begin() as session:
        session.add(
            DeviceLessonSummary(
                report_id=twin_id,
                device_id=device.id,
                lesson_id=parsed.lesson_id,
                received_at=clock().astimezone(UTC),
                started_at=parsed.started_at,
                ended_at=parsed.ended_at,
                seconds_monitored=parsed.coverage.seconds_monitored,
                gaps=parsed.coverage.gaps,
                dropped=parsed.dropped,
                summary=parsed.to_json(),
            )
        )
    with sessions.begin() as session:
        ours, orms = _as_stored(session, parsed.report_id), _as_stored(session, twin_id)
        assert ours[1:] == orms[1:]
        # And read back through the ORM, both are the same aware UTC values.
        read = {row.report_id: row for row in session.scalars(select(DeviceLessonSummary)).all()}
        a, b = read[parsed.report_id], read[twin_id]
        for column in ("received_at", "started_at", "ended_at", "summary"):
            assert getattr(a, column) == getattr(b, column), column
        assert a.received_at == clock() and a.received_at.tzinfo is not None


def test_the_read_gives_what_the_orm_reads(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """The school, the lesson's times and the stored window, as the checks get them from the
    driver (on PostgreSQL both queries in one pipeline), equal the ORM's aware UTC values."""
    device = _device(sessions, world.code_3b, clock)
    item = summary(world.lesson_3b)
    with sessions.begin() as session:
        ingest.ingest_batch(
            session, device=device, items=[item], now=clock(), future_tolerance=HOUR
        )
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, world.lesson_3b)
        stored = session.scalars(select(DeviceLessonSummary)).one()
        school = session.get_one(School, device.school_id)
        [school_row], [(row, window)] = statements.on(session.connection()).read(
            [device.school_id], [world.lesson_3b], [device.id]
        )
    assert school_row == (school.id, school.retention_days, school.policy_override)
    assert (row.id, row.school_id, row.group_id, row.frozen) == (
        lesson.id,
        lesson.school_id,
        lesson.group_id,
        False,
    )
    assert (row.start, row.end) == (lesson.start, lesson.end)
    assert row.start.tzinfo is not None and row.start.utcoffset() == timedelta(0)
    assert window is not None
    owner, seen = window
    assert owner == device.id
    assert (seen.report_id, seen.started_at, seen.ended_at) == (
        stored.report_id,
        stored.started_at,
        stored.ended_at,
    )


def test_a_naive_time_is_refused_as_the_orm_refuses_it(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    device = _device(sessions, world.code_3b, clock)
    parsed = parse_summary(summary(world.lesson_3b))
    with sessions.begin() as session, pytest.raises(ValueError, match="naive"):
        statements.on(session.connection()).insert(
            {parsed.report_id: (parsed, device.id)}, datetime(2026, 12, 7, 9, 0)
        )


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A summary of a device that does not exist breaks the foreign key: the error is
    SQLAlchemy's IntegrityError, as for every other statement (group commit relies on errors,
    not their type, but logs and handlers see one kind)."""
    parsed = parse_summary(summary(world.lesson_3b))
    with sessions.begin() as session, pytest.raises(IntegrityError):
        statements.on(session.connection()).insert(
            {parsed.report_id: (parsed, "no-such-device")}, clock()
        )


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-HOUR)]),
    )
)
def test_a_time_is_written_on_sqlite_as_sqlalchemy_writes_it(value: datetime) -> None:
    """Every aware time, in any offset and any year (glibc's %Y would not pad year 5 to 0005),
    becomes the text SQLAlchemy's SQLite DATETIME stores for its UTC value: the other queries
    compare these as text."""
    naive_utc = value.astimezone(UTC).replace(tzinfo=None)
    assert statements._text(value) == sqlite_datetime(naive_utc)
