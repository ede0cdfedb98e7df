"""Storing lesson summaries: results per item, idempotency by report id, lesson checks."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.devices import registry as devices
from service.ingest import summaries as ingest
from service.models import Device, DeviceLessonSummary
from tests.support.clock import FakeClock
from tests.support.collector import World, enrol, finding, summary

HOUR = timedelta(hours=1)


def _device(sessions: sessionmaker[Session], code: str, clock: FakeClock) -> Device:
    with sessions.begin() as session:
        token = enrol(session, code, clock()).token
    with sessions.begin() as session:
        return devices.device_for_token(session, token)


def _send(
    sessions: sessionmaker[Session], device: Device, items: list[Any], clock: FakeClock
) -> list[tuple[str, str | None]]:
    with sessions.begin() as session:
        results = ingest.ingest_batch(
            session, device=device, items=items, now=clock(), future_tolerance=HOUR
        )
    return [(r.status, r.reason) for r in results]


def _stored(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(DeviceLessonSummary)) or 0


def test_batch_is_accepted_then_duplicate(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A batch sent twice is stored once: the second time every item is a duplicate."""
    device = _device(sessions, world.code_3b, clock)
    batch = [summary(world.lesson_3b, [finding()]), summary(world.lesson_3b)]
    assert _send(sessions, device, batch, clock) == [("accepted", None)] * 2
    assert _send(sessions, device, batch, clock) == [("duplicate", None)] * 2
    assert _stored(sessions) == 2


def test_same_report_id_twice_in_one_batch(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A report repeated inside one batch is stored once and answered as a duplicate."""
    device = _device(sessions, world.code_3b, clock)
    item = summary(world.lesson_3b)
    assert _send(sessions, device, [item, item], clock) == [
        ("accepted", None),
        ("duplicate", None),
    ]
    assert _stored(sessions) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # the wire format's own checks
        (lambda s, w: {**s, "extra": 1}, "summary: unknown field 'extra'"),
        (lambda s, w: {**s, "report_id": 7}, "report_id must be a UUID"),
        (lambda s, w: "not an object", "summary must be an object"),
        (
            lambda s, w: {**s, "findings": [finding(family="no-such-app")]},
            "unknown app family 'no-such-app'",
        ),
        (lambda s, w: {**s, "findings": [finding(rule="made-up")]}, "unknown rule 'made-up'"),
        (
            lambda s, w: {**s, "findings": [finding(category="video_streaming")]},
            "finding does not match rule 'a1-social-media'",
        ),
        # the collector's lesson checks
        (lambda s, w: {**s, "lesson_id": "l_doesnotexist"}, "lesson does not exist"),
        (lambda s, w: {**s, "lesson_id": w.lesson_4a}, "lesson belongs to another group"),
    ],
)
def test_bad_item_is_rejected_and_the_rest_stored(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, change: Any, reason: str
) -> None:
    """An item that fails a check is rejected with its reason; valid items around it are stored."""
    device = _device(sessions, world.code_3b, clock)
    bad = change(summary(world.lesson_3b), world)
    results = _send(
        sessions, device, [summary(world.lesson_3b), bad, summary(world.lesson_3b)], clock
    )
    assert results[0] == results[2] == ("accepted", None)
    assert results[1][0] == "rejected"
    assert reason in (results[1][1] or "")
    assert _stored(sessions) == 2


def test_lesson_far_in_the_future_is_rejected(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A summary for a lesson starting more than the tolerance ahead is refused."""
    device = _device(sessions, world.code_3b, clock)
    clock.now -= timedelta(hours=2)
    assert _send(sessions, device, [summary(world.lesson_3b)], clock) == [
        ("rejected", "lesson starts too far in the future")
    ]
    assert _stored(sessions) == 0


def test_report_id_of_another_device_is_rejected(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A report id stored for one device is refused for another and the first stays untouched."""
    first = _device(sessions, world.code_3b, clock)
    second = _device(sessions, world.code_3b, clock)
    item = summary(world.lesson_3b, [finding()])
    assert _send(sessions, first, [item], clock) == [("accepted", None)]
    assert _send(sessions, second, [item], clock) == [
        ("rejected", "report_id was already used by another device")
    ]
    with sessions.begin() as session:
        row = session.scalars(select(DeviceLessonSummary)).one()
    assert row.device_id == first.id


def test_concurrent_retries_store_once(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """The same batch sent from eight threads at once is stored exactly once."""
    device = _device(sessions, world.code_3b, clock)
    batch = [summary(world.lesson_3b, [finding()]) for _ in range(20)]
    outcomes: list[list[tuple[str, str | None]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def run() -> None:
        try:
            start.wait(timeout=10)
            outcomes.append(_send(sessions, device, batch, clock))
        except BaseException as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(outcomes) == 8
    accepted = sum(1 for o in outcomes for status, _ in o if status == "accepted")
    duplicates = sum(1 for o in outcomes for status, _ in o if status == "duplicate")
    assert (accepted, duplicates) == (20, 20 * 7)
    assert _stored(sessions) == 20
