"""Group commit: several requests' batches in one transaction give each request exactly the
results it would have had alone, and a batch that breaks the transaction fails alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.devices import registry as devices
from service.devices.registry import ActiveDevice
from service.ingest import group_commit
from service.ingest import summaries as ingest
from service.ingest.pg_writer import PostgresWriter
from service.models import Device, DeviceLessonSummary
from tests.support.clock import FakeClock
from tests.support.collector import World, enrol, finding, summary
from tests.support.sql import client_messages, sent_by_driver

HOUR = timedelta(hours=1)


def _devices(sessions: sessionmaker[Session], clock: FakeClock, *codes: str) -> list[ActiveDevice]:
    with sessions.begin() as session:
        keys = [devices.token_key(enrol(session, code, clock()).token) for code in codes]
    with sessions.begin() as session:
        found = devices.active_devices(session, keys, clock())
    return [found[k] for k in keys]


def _write(
    sessions: sessionmaker[Session],
    clock: FakeClock,
    *batches: tuple[ActiveDevice, list[Any]],
    writer: PostgresWriter | None = None,
) -> list[list[tuple[str, str | None]] | BaseException]:
    """The group written as the collector writes it: on PostgreSQL through a report writer
    (``writer``, else one made for this group)."""
    engine = sessions.kw["bind"]
    own = writer is None and engine.dialect.name == "postgresql"
    if own:
        writer = PostgresWriter(engine)
    try:
        outcomes = group_commit.write_group(
            engine,
            [ingest.parse_batch(device, items) for device, items in batches],
            clock=clock,
            future_tolerance=HOUR,
            writer=writer,
        )
    finally:
        if own and writer is not None:
            writer.close()
    return [
        o if isinstance(o, BaseException) else [(r.status, r.reason) for r in o] for o in outcomes
    ]


def _owners(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions.begin() as session:
        query = select(DeviceLessonSummary.report_id, DeviceLessonSummary.device_id)
        return dict(session.execute(query).all())


ACCEPTED = ("accepted", None)
DUPLICATE = ("duplicate", None)
TAKEN = ("rejected", "report_id was already used by another device")


@pytest.mark.parametrize(
    ("second_device", "expected"),
    [(0, DUPLICATE), (1, TAKEN)],
    ids=["same-device", "another-device"],
)
def test_one_report_id_in_two_batches_of_a_group(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    second_device: int,
    expected: tuple[str, str | None],
) -> None:
    """The first batch stores the report; the second is its duplicate, or refused for another
    device, exactly as if the two requests had come one after the other."""
    fleet = _devices(sessions, clock, world.code_3b, world.code_3b)
    item = summary(world.lesson_3b, [finding()])
    outcomes = _write(sessions, clock, (fleet[0], [item]), (fleet[second_device], [item]))
    assert outcomes == [[ACCEPTED], [expected]]
    assert _owners(sessions) == {item["report_id"]: fleet[0].id}


@pytest.mark.parametrize(
    ("owner", "expected"),
    [(0, DUPLICATE), (1, TAKEN)],
    ids=["stored-by-this-device", "stored-by-another-device"],
)
def test_a_stored_report_id_repeated_in_a_group_gets_one_answer_throughout(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    owner: int,
    expected: tuple[str, str | None],
) -> None:
    """A report stored earlier, sent again twice in one batch and once more in another batch of
    the group: every one of them is its owner's duplicate, or refused for anyone else."""
    fleet = _devices(sessions, clock, world.code_3b, world.code_3b)
    item = summary(world.lesson_3b, [finding()])
    assert _write(sessions, clock, (fleet[owner], [item])) == [[ACCEPTED]]
    outcomes = _write(sessions, clock, (fleet[0], [item, item]), (fleet[0], [item]))
    assert outcomes == [[expected, expected], [expected]]
    assert _owners(sessions) == {item["report_id"]: fleet[owner].id}


@pytest.mark.parametrize(
    ("batches", "repeat_stored", "more"),
    [(1, False, 0), (4, False, 0), (4, True, 1)],
    ids=["one-batch", "four-batches", "four-batches-one-a-retry"],
)
def test_a_group_costs_the_same_statements_whatever_it_holds(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    batches: int,
    repeat_stored: bool,
    more: int,
) -> None:
    """A group's transaction reads the schools and the lessons with the windows already
    stored, then inserts and drops the lessons' kept totals: four statements on SQLite; on
    PostgreSQL two round trips (``BEGIN`` with the read, the insert with ``COMMIT``; the
    insert drops the totals too), for one batch or several (docs/performance.md); the owners
    of report ids the insert skipped are looked up only when it skipped some."""
    fleet = _devices(sessions, clock, *[world.code_3b] * batches)
    stored = summary(world.lesson_3b, [finding()])
    assert _write(sessions, clock, (fleet[0], [stored])) == [[ACCEPTED]]
    group = [(device, [summary(world.lesson_3b, [finding()])]) for device in fleet]
    if repeat_stored:
        group[-1] = (fleet[0], [stored])
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        writer = PostgresWriter(engine)
        try:
            _write(sessions, clock, (fleet[0], [summary(world.lesson_3b)]), writer=writer)
            outcomes, sent = client_messages(
                writer.connection, lambda: _write(sessions, clock, *group, writer=writer)
            )
        finally:
            writer.close()
        round_trips = [m for m in sent if m in ("Query", "Sync")]
        assert all(o in ([ACCEPTED], [DUPLICATE]) for o in outcomes), outcomes
        assert len(round_trips) == 2 + more, sent
        return
    with sent_by_driver(sessions) as sent:
        outcomes = _write(sessions, clock, *group)
    # Transaction control is not the transaction's statements.
    control = {"BEGIN", "COMMIT", "ROLLBACK"}
    seen = [s for s in sent if not any(s.upper().startswith(c) for c in control)]
    assert all(o in ([ACCEPTED], [DUPLICATE]) for o in outcomes), outcomes
    assert len(seen) == 4 + more, seen


def test_a_batch_that_breaks_the_group_fails_alone(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A device erased after its token was checked (by another process) breaks the group's
    foreign key: the group is stored again one batch at a time and only that batch fails."""
    fleet = _devices(sessions, clock, *[world.code_3b] * 4)
    erased = fleet[1]
    with sessions.begin() as session:
        # Through the connection, as another process would: this process's cache is not told.
        session.connection().execute(delete(Device.__table__).where(Device.id == erased.id))
    items = [[summary(world.lesson_3b)] for _ in fleet]
    outcomes = _write(sessions, clock, *zip(fleet, items, strict=True))
    assert isinstance(outcomes[1], IntegrityError)
    assert outcomes[0] == outcomes[2] == outcomes[3] == [ACCEPTED]
    assert set(_owners(sessions).values()) == {fleet[0].id, fleet[2].id, fleet[3].id}


def test_a_group_of_one_that_fails_is_not_tried_again(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Alone, a failing batch gets its error at once (one transaction, not two)."""

    (gone,) = _devices(sessions, clock, world.code_3b)
    with sessions.begin() as session:
        session.connection().execute(delete(Device.__table__).where(Device.id == gone.id))
    engine = sessions.kw["bind"]
    rollbacks: list[object] = []

    def count(conn: object) -> None:
        rollbacks.append(conn)

    if engine.dialect.name == "postgresql":
        writer = PostgresWriter(engine)
        tried = writer.store

        def counted(*args: Any, **kwargs: Any) -> Any:
            rollbacks.append(args)
            return tried(*args, **kwargs)

        writer.store = counted  # type: ignore[method-assign]
        try:
            outcomes = _write(sessions, clock, (gone, [summary(world.lesson_3b)]), writer=writer)
        finally:
            writer.close()
    else:
        event.listen(engine, "rollback", count)
        try:
            outcomes = _write(sessions, clock, (gone, [summary(world.lesson_3b)]))
        finally:
            event.remove(engine, "rollback", count)
    assert isinstance(outcomes[0], IntegrityError)
    assert len(rollbacks) == 1
    assert _owners(sessions) == {}


# --- the group's results equal one-after-another results, for any mix ----------------------

Kind = str  # "ok", "other-group" (a lesson of 4A), "garbage" (fails the wire format)

batch_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),  # sending device: 0 and 1 in 3B, 2 in 4A
        st.lists(
            st.tuples(st.integers(0, 5), st.sampled_from(["ok", "ok", "other-group", "garbage"])),
            min_size=0,
            max_size=5,
        ),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=batch_strategy,
    stored_before=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), max_size=3),
)
def test_group_results_equal_sending_one_after_another(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    batches: list[tuple[int, list[tuple[int, Kind]]]],
    stored_before: list[tuple[int, int]],
) -> None:
    """Whatever the batches (shared report ids within and across devices, bad items, ids stored
    before), one group gives the results of storing each batch in its own transaction in turn."""
    fleet = _devices(sessions, clock, world.code_3b, world.code_3b, world.code_4a)
    lesson_of = [world.lesson_3b, world.lesson_3b, world.lesson_4a]

    def run(store: Callable[[list[tuple[ActiveDevice, list[Any]]]], list[Any]]) -> list[Any]:
        ids = [str(uuid.uuid4()) for _ in range(6)]

        def item(sender: int, rid: int, kind: Kind) -> Any:
            if kind == "garbage":
                return {"report_id": ids[rid], "lesson_id": 7}
            other = world.lesson_4a if lesson_of[sender] == world.lesson_3b else world.lesson_3b
            lesson = other if kind == "other-group" else lesson_of[sender]
            return summary(lesson, [finding()], report_id=ids[rid])

        for rid, owner in stored_before:
            _write(sessions, clock, (fleet[owner], [item(owner, rid, "ok")]))
        outcome = store(
            [(fleet[dev], [item(dev, rid, kind) for rid, kind in items]) for dev, items in batches]
        )
        # Report ids differ between the two runs; the statuses and reasons must not.
        return [[(s, r) for s, r in results] for results in outcome]

    def alone(requests: list[tuple[ActiveDevice, list[Any]]]) -> list[Any]:
        return [_write(sessions, clock, request)[0] for request in requests]

    def grouped(requests: list[tuple[ActiveDevice, list[Any]]]) -> list[Any]:
        return _write(sessions, clock, *requests)

    assert run(grouped) == run(alone)


def test_rows_stored_by_a_group_are_each_stored_once(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Twenty single-summary batches in one group: twenty rows, each with its sender."""
    fleet = _devices(sessions, clock, *[world.code_3b] * 20)
    items = [summary(world.lesson_3b) for _ in fleet]
    outcomes = _write(sessions, clock, *((d, [i]) for d, i in zip(fleet, items, strict=True)))
    assert outcomes == [[ACCEPTED]] * 20
    assert _owners(sessions) == {i["report_id"]: d.id for d, i in zip(fleet, items, strict=True)}
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == 20
