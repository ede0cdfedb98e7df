"""PostgreSQL's report writer (``service.ingest.pg_writer``): a group is two round trips on a
connection of its own, which survives a failed group and is replaced when it breaks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.devices.registry import ActiveDevice
from service.ingest import statements
from service.ingest import summaries as ingest
from service.ingest.pg_writer import PostgresWriter
from service.models import Device, DeviceLessonSummary, School
from tests.support.clock import FakeClock
from tests.support.collector import World, active_fleet, finding, summary
from tests.support.sql import client_messages

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)

HOUR = timedelta(hours=1)
T = TypeVar("T")


@pytest.fixture
def writer(sessions: sessionmaker[Session]) -> Iterator[PostgresWriter]:
    made = PostgresWriter(sessions.kw["bind"])
    yield made
    made.close()


def _store(
    writer: PostgresWriter, clock: FakeClock, batches: list[tuple[ActiveDevice, list[Any]]]
) -> list[list[str]]:
    results = writer.store(
        [ingest.parse_batch(device, items) for device, items in batches],
        now=clock(),
        future_tolerance=HOUR,
        most_per_lesson=30,
    )
    return [[r.status for r in batch] for batch in results]


def _stored(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(DeviceLessonSummary)) or 0


def test_a_group_is_two_round_trips_whatever_it_holds(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, writer: PostgresWriter
) -> None:
    """``BEGIN`` with the read, the insert with ``COMMIT``: two messages and nothing else (no
    pre-ping, no separate BEGIN or COMMIT, no pipeline syncs), for one batch or eight."""
    fleet = active_fleet(sessions, clock, world.code_3b, 8)
    assert _store(writer, clock, [(fleet[0], [summary(world.lesson_3b, [finding()])])]) == [
        ["accepted"]
    ]
    for size in (1, 8):
        group = [(d, [summary(world.lesson_3b, [finding()])]) for d in fleet[:size]]
        outcome, sent = client_messages(
            writer.connection, lambda group=group: _store(writer, clock, group)
        )
        assert outcome == [["accepted"]] * size
        assert sent == ["Query", "Query"], sent
    assert _stored(sessions) == 10 and writer.connections == 1


def test_a_failed_group_rolls_back_and_keeps_the_connection(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, writer: PostgresWriter
) -> None:
    """A device erased by another process breaks the insert's foreign key: SQLAlchemy's
    IntegrityError, nothing of the group stored, and the same connection serves the next."""
    first, gone = active_fleet(sessions, clock, world.code_3b, 2)
    with sessions.begin() as session:
        session.connection().execute(delete(Device.__table__).where(Device.id == gone.id))
    items = [summary(world.lesson_3b, [finding()])]
    with pytest.raises(IntegrityError):
        _store(writer, clock, [(first, items), (gone, [summary(world.lesson_3b)])])
    assert _stored(sessions) == 0
    assert _store(writer, clock, [(first, items)]) == [["accepted"]]
    assert writer.connections == 1


def test_a_broken_connection_is_replaced_and_the_group_stored_once(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    writer: PostgresWriter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server ends the writer's session (a restart, an idle timeout): the next group finds
    the connection broken, is stored on a new one, and its caller sees only the results."""
    (device,) = active_fleet(sessions, clock, world.code_3b, 1)
    assert _store(writer, clock, [(device, [summary(world.lesson_3b, [finding()])])])
    pid = writer.connection.info.backend_pid
    with sessions.begin() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with caplog.at_level(logging.WARNING, logger="lessonwatch.service"):
        again = _store(writer, clock, [(device, [summary(world.lesson_3b, [finding()])])])
    assert again == [["accepted"]]
    assert writer.connections == 2 and writer.connection.info.backend_pid != pid
    assert "connection broke" in caplog.text
    assert _stored(sessions) == 2


def test_client_side_parameters_are_quoted_not_run(
    sessions: sessionmaker[Session], writer: PostgresWriter, world: World, clock: FakeClock
) -> None:
    """The writer binds parameters on the client: a hostile value is a value."""
    (device,) = active_fleet(sessions, clock, world.code_3b, 1)
    assert _store(writer, clock, [(device, [summary(world.lesson_3b)])]) == [["accepted"]]
    sql = statements.on_writer(writer.connection, sessions.kw["bind"].dialect)
    hostile = "l_x'); DROP TABLE schools; --\\"
    schools, lessons = sql.read([1], [hostile, world.lesson_3b], ["d_'\"\\"])
    writer.connection.execute("ROLLBACK")
    assert [lesson.id for lesson, _ in lessons] == [world.lesson_3b]
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(School)) >= 1
    assert len(schools) <= 1


def test_the_writer_stores_the_row_the_pools_path_stores(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, writer: PostgresWriter
) -> None:
    """The same summary (another report id) through the writer and through a pooled
    connection (``summaries.ingest_batch``, checked against the ORM's rows in
    test_ingest_statements): the same values in the same form."""
    device, other = active_fleet(sessions, clock, world.code_3b, 2)
    clock.now = clock.now.replace(microsecond=654321)
    mine = summary(world.lesson_3b, [finding()])
    twin = {**mine, "report_id": str(uuid.uuid4())}
    assert _store(writer, clock, [(device, [mine])]) == [["accepted"]]
    with sessions.begin() as session:
        [result] = ingest.ingest_batch(
            session, device=other, items=[twin], now=clock(), future_tolerance=HOUR
        )
    assert result.status == "accepted"
    columns = "lesson_id, received_at, started_at, ended_at, seconds_monitored, gaps, dropped"
    with sessions.begin() as session:
        rows = session.execute(
            text(
                f"SELECT {columns}, summary::text, report_id FROM device_lesson_summaries "
                "WHERE report_id IN (:a, :b) ORDER BY device_id = :device DESC"
            ),
            {"a": mine["report_id"], "b": twin["report_id"], "device": device.id},
        ).all()
    assert len(rows) == 2
    ours, pools = rows
    assert ours[:-2] == pools[:-2] and ours[1] == clock()
    # The stored JSON text is the same but for the report id.
    assert ours[-2].replace(ours[-1], "") == pools[-2].replace(pools[-1], "")
