"""Storing a batch of lesson summaries from one device, with a result per item.

Idempotency rests on the unique ``report_id`` column, not on looking first: the new items go
in with one ``INSERT ... ON CONFLICT (report_id) DO NOTHING RETURNING report_id`` (both
backends), and an item the insert did not return was stored meanwhile by another request (in
this or another collector process). A bulk look-up first only spares the common retried batch
its conflicting rows. One executemany per batch rather than a savepoint per item: a batch of 50
took about 100 ms on PostgreSQL with savepoints and 17 ms like this (bench/ingest).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from policies.wire import LessonSummary, WireError, parse_summary
from service import policy_cache
from service.db import is_postgres
from service.models import Device, DeviceLessonSummary, Lesson, LessonAggregate, School

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True)
class ItemResult:
    report_id: str | None
    status: Status
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"report_id": self.report_id, "status": self.status, "reason": self.reason}


def _report_id_of(item: Any) -> str | None:
    """The item's report id if it is a well-formed UUID (never echo arbitrary input back)."""
    raw = item.get("report_id") if isinstance(item, dict) else None
    if not isinstance(raw, str) or len(raw) != 36:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def lesson_problem(
    lesson: Lesson | None,
    device: Device,
    school: School,
    frozen: bool,
    *,
    future: timedelta,
    now: datetime,
) -> str | None:
    """Why a summary for ``lesson`` from ``device`` cannot be stored, or None if it can."""
    if lesson is None:
        return "lesson does not exist"
    if lesson.school_id != device.school_id or lesson.group_id != device.group_id:
        return "lesson belongs to another group"
    if lesson.start > now + future:
        return "lesson starts too far in the future"
    if frozen or lesson.end < now - timedelta(days=school.retention_days):
        return "lesson is past the retention period; its device-level data is purged"
    return None


def ingest_batch(
    session: Session,
    *,
    device: Device,
    items: Sequence[Any],
    now: datetime,
    future_tolerance: timedelta,
) -> list[ItemResult]:
    school = session.get_one(School, device.school_id)
    policy = policy_cache.for_school(school)
    parsed: list[LessonSummary | ItemResult] = []
    for item in items:
        try:
            summary = parse_summary(item)
            policy.check(summary)
            parsed.append(summary)
        except WireError as exc:
            parsed.append(ItemResult(_report_id_of(item), "rejected", str(exc)))
    summaries = [p for p in parsed if isinstance(p, LessonSummary)]
    lesson_ids = {s.lesson_id for s in summaries}
    lessons = {
        row.id: row for row in session.scalars(select(Lesson).where(Lesson.id.in_(lesson_ids)))
    }
    frozen = set(
        session.scalars(
            select(LessonAggregate.lesson_id).where(LessonAggregate.lesson_id.in_(lesson_ids))
        )
    )
    known = _stored_owners(session, [s.report_id for s in summaries])
    # First pass: decide every item; the new ones are inserted together afterwards.
    decided: list[ItemResult | LessonSummary] = []
    new: dict[str, LessonSummary] = {}
    for entry in parsed:
        if isinstance(entry, ItemResult):
            decided.append(entry)
            continue
        problem = lesson_problem(
            lessons.get(entry.lesson_id),
            device,
            school,
            entry.lesson_id in frozen,
            future=future_tolerance,
            now=now,
        )
        if problem is not None:
            decided.append(ItemResult(entry.report_id, "rejected", problem))
        elif entry.report_id in known:
            decided.append(_existing(entry.report_id, known[entry.report_id], device))
        elif entry.report_id in new:
            # The same report twice in one batch: stored once, the repeat is a duplicate.
            decided.append(ItemResult(entry.report_id, "duplicate"))
        else:
            new[entry.report_id] = entry
            decided.append(entry)
    inserted = _insert_new(session, list(new.values()), device, now)
    lost = [rid for rid in new if rid not in inserted]
    owners = _stored_owners(session, lost)
    results: list[ItemResult] = []
    for item in decided:
        if isinstance(item, ItemResult):
            results.append(item)
        elif item.report_id in inserted:
            results.append(ItemResult(item.report_id, "accepted"))
        elif item.report_id in owners:
            results.append(_existing(item.report_id, owners[item.report_id], device))
        else:
            # Neither inserted nor stored: cannot happen with a unique column; refuse loudly.
            raise RuntimeError(f"report {item.report_id} was neither stored nor found")
    return results


def _stored_owners(session: Session, report_ids: Sequence[str]) -> dict[str, str]:
    if not report_ids:
        return {}
    query = select(DeviceLessonSummary.report_id, DeviceLessonSummary.device_id).where(
        DeviceLessonSummary.report_id.in_(report_ids)
    )
    return dict(session.execute(query).all())


def _existing(report_id: str, owner: str, device: Device) -> ItemResult:
    if owner == device.id:
        return ItemResult(report_id, "duplicate")
    return ItemResult(report_id, "rejected", "report_id was already used by another device")


def _insert_new(
    session: Session, summaries: Sequence[LessonSummary], device: Device, now: datetime
) -> set[str]:
    """Insert the summaries; the report ids actually inserted (a conflicting one is skipped)."""
    if not summaries:
        return set()
    rows = [
        {
            "report_id": s.report_id,
            "device_id": device.id,
            "lesson_id": s.lesson_id,
            "received_at": now,
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "seconds_monitored": s.coverage.seconds_monitored,
            "gaps": s.coverage.gaps,
            "dropped": s.dropped,
            "summary": s.to_json(),
        }
        for s in summaries
    ]
    insert = pg_insert if is_postgres(session) else sqlite_insert
    table = cast(Table, DeviceLessonSummary.__table__)
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["report_id"])
        .returning(table.c.report_id)
    )
    # A Core executemany: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues") in
    # batches within both backends' parameter limits, from one cached compiled statement.
    return set(session.connection().execute(statement, rows).scalars())
