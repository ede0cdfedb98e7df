"""Storing a batch of lesson summaries from one device, with a result per item.

Idempotency rests on the unique ``report_id`` column, not on looking first: each item is
inserted in its own savepoint, and a unique-constraint failure means another request (in this
or another collector process) stored it already. A bulk look-up first only spares the common
retried batch its failed inserts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from policies.wire import LessonSummary, WireError, parse_summary
from service import policy_cache
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
    results: list[ItemResult] = []
    for entry in parsed:
        if isinstance(entry, ItemResult):
            results.append(entry)
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
            results.append(ItemResult(entry.report_id, "rejected", problem))
        elif entry.report_id in known:
            results.append(_existing(entry.report_id, known[entry.report_id], device))
        else:
            results.append(_insert(session, entry, device, now))
            known.setdefault(entry.report_id, device.id)
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


def _insert(session: Session, summary: LessonSummary, device: Device, now: datetime) -> ItemResult:
    row = DeviceLessonSummary(
        report_id=summary.report_id,
        device_id=device.id,
        lesson_id=summary.lesson_id,
        received_at=now,
        started_at=summary.started_at,
        ended_at=summary.ended_at,
        seconds_monitored=summary.coverage.seconds_monitored,
        gaps=summary.coverage.gaps,
        dropped=summary.dropped,
        summary=summary.to_json(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Stored meanwhile by a concurrent request: decide by who stored it.
        owner = _stored_owners(session, [summary.report_id]).get(summary.report_id)
        if owner is None:
            raise
        return _existing(summary.report_id, owner, device)
    return ItemResult(summary.report_id, "accepted")
