"""PostgreSQL report groups driven from the event loop (``service.ingest.pg_loop``): the same
results as the worker thread's path, the loop free while the server works, and anything
unexpected handed to the thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from service.devices.registry import ActiveDevice
from service.ingest.intake import Intake
from service.models import Device, DeviceLessonSummary
from tests.support.clock import FakeClock
from tests.support.collector import World, active_fleet, finding, summary
from tests.support.databases import pg_dsn
from tests.support.waiting import loop_ticks

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)

TAKEN = "report_id was already used by another device"


Sent = list[tuple[ActiveDevice, list[dict[str, Any]]]]


async def _connected(intake: Intake, device: ActiveDevice, lesson: str) -> None:
    """One summary through the worker thread (the loop's connection is made on a worker
    thread at the first group), then nothing until the loop's connection is up."""
    assert await _send(intake, [(device, [summary(lesson)])]) == [[("accepted", None)]]
    assert intake.loop_writer is not None
    for _ in range(500):
        if intake.loop_writer.connections:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the loop writer never connected")


async def _send(intake: Intake, batches: Sent) -> list[list[Any]]:
    results = await asyncio.gather(
        *(intake.store(device, items) for device, items in batches), return_exceptions=True
    )
    return [
        r if isinstance(r, BaseException) else [(x.status, x.reason) for x in r] for r in results
    ]


def test_a_group_from_the_loop_gives_each_batch_its_own_results(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, intake: Intake
) -> None:
    """New summaries accepted, a repeat of one already stored a duplicate (same device) or
    rejected (another), a lesson of another group rejected: all in groups the loop ran."""
    first, second = active_fleet(sessions, clock, world.code_3b, 2)
    stored = summary(world.lesson_3b, [finding()])

    async def scenario() -> list[list[Any]]:
        warm = await _send(intake, [(first, [stored])])  # the worker thread's, while connecting
        await _connected(intake, second, world.lesson_3b)
        before = intake.writes.groups_here
        out = await _send(
            intake,
            [
                (first, [summary(world.lesson_3b, [finding()]), stored]),
                (second, [stored, summary(world.lesson_4a)]),
            ],
        )
        assert intake.writes.groups_here == before + 1
        return [warm[0], *out]

    warm, one, two = asyncio.run(scenario())
    assert warm == [("accepted", None)]
    assert one == [("accepted", None), ("duplicate", None)]
    assert two == [("rejected", TAKEN), ("rejected", "lesson belongs to another group")]
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == 3


def test_the_loop_keeps_running_while_the_server_makes_a_group_wait(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, intake: Intake
) -> None:
    """Another transaction holds the report id the group inserts (its unique index entry):
    the server makes the insert wait for it; the loop goes on meanwhile, and the group's
    answer follows the other transaction's end (rolled back here: the summary is accepted)."""
    (device,) = active_fleet(sessions, clock, world.code_3b, 1)
    item = summary(world.lesson_3b, [finding()])
    other = psycopg.connect(pg_dsn(sessions.kw["bind"].url.database))
    other.execute(
        "INSERT INTO device_lesson_summaries (report_id, device_id, lesson_id, received_at, "
        "started_at, ended_at, seconds_monitored, gaps, dropped, summary) "
        "SELECT %s, %s, %s, now(), now(), now(), 0, 0, 0, '{}'::json",
        (item["report_id"], device.id, world.lesson_3b),
    )

    async def scenario() -> tuple[list[list[Any]], int]:
        await _connected(intake, device, world.lesson_3b)
        release = threading.Timer(0.5, other.rollback)
        release.start()
        async with loop_ticks() as ticks:
            out = await _send(intake, [(device, [item])])
        release.join()
        return out, ticks[0]

    try:
        out, ticks = asyncio.run(scenario())
    finally:
        other.close()
    assert out == [[("accepted", None)]]
    assert ticks >= 20, "the loop waited with the group"
    assert intake.writes.groups_here >= 1


def test_a_server_error_hands_the_group_to_the_worker_thread(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, intake: Intake
) -> None:
    """A device erased by another process breaks the group's foreign key on the loop: the
    group goes to the worker thread, which stores the others and fails that batch alone; the
    loop's next group runs on a new connection."""
    fleet = active_fleet(sessions, clock, world.code_3b, 3)

    async def scenario() -> list[list[Any]]:
        await _connected(intake, fleet[0], world.lesson_3b)
        with sessions.begin() as session:
            session.connection().execute(delete(Device.__table__).where(Device.id == fleet[1].id))
        out = await _send(intake, [(d, [summary(world.lesson_3b, [finding()])]) for d in fleet])
        await _send(intake, [(fleet[0], [summary(world.lesson_3b)])])  # the thread's; reconnects
        for _ in range(500):
            if intake.loop_writer is not None and intake.loop_writer.connections == 2:
                break
            await asyncio.sleep(0.01)
        return [*out, await _send(intake, [(fleet[2], [summary(world.lesson_3b)])])]

    first, erased, third, later = asyncio.run(scenario())
    assert first == third == [("accepted", None)]
    assert isinstance(erased, Exception) and "foreign key" in str(erased).lower()
    assert later == [[("accepted", None)]]
    assert intake.loop_writer is not None and intake.loop_writer.connections == 2


def test_a_message_larger_than_the_socket_takes_is_written_as_it_drains(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, intake: Intake
) -> None:
    """With a small send buffer the insert does not fit at once (libpq's flush says so): the
    loop finishes writing it when the socket is writable, and all of it is stored."""
    fleet = active_fleet(sessions, clock, world.code_3b, 40)
    three = [finding("telegram", 300), finding("tiktok", 120), finding("instagram", 60)]

    async def scenario() -> list[list[Any]]:
        await _connected(intake, fleet[0], world.lesson_3b)
        assert intake.loop_writer is not None and intake.loop_writer._conn is not None
        fd = intake.loop_writer._conn.pgconn.socket
        with socket.socket(fileno=socket.dup(fd)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the kernel's least
        return await _send(intake, [(d, [summary(world.lesson_3b, three)]) for d in fleet])

    out = asyncio.run(scenario())
    assert out == [[("accepted", None)]] * 40
    assert intake.writes.groups_here >= 1
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == 41
