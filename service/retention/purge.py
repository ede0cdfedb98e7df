"""The retention purge: device-level summaries go after the school's retention period, the
per-lesson numbers stay until the school year is over.

Before a lesson's summaries are deleted its report numbers are frozen into ``lesson_aggregates``;
ingestion refuses summaries for lessons past the same cutoff, so nothing arrives after the
freeze. The per-lesson totals of ``service.lesson_totals`` are deleted with the summaries.
Lessons of earlier school years (which start on 1 August, school time) are deleted with
their permissions and numbers.

The audit log has a retention of its own (issue 13): a school's entries older than its
``audit_retention_days`` are deleted, and with them the free-text reasons written in them (why
a device-level view was opened). Entries of no school (sign-in attempts under names nobody has)
go after ``AUDIT_DAYS_DEFAULT`` days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Result, delete, select
from sqlalchemy.orm import Session

from service.db import PURGE_LOCK, job_lock
from service.errors import InvalidRequest
from service.models import (
    AuditEntry,
    DeviceLessonSummary,
    Lesson,
    LessonAggregate,
    LessonTotals,
    Permission,
    School,
)
from service.reports.lesson_report import BATCH, numbers_of
from service.schools import registry as schools

SCHOOL_YEAR_START_MONTH = 8
# How long the audit log is kept, in days: the default, and the bounds a school may choose
# within. At least a quarter, so a complaint about a view can still be looked into; at most ten
# years, as for the device-level data.
AUDIT_DAYS_DEFAULT = 365
AUDIT_DAYS_MIN = 90
AUDIT_DAYS_MAX = 3650


@dataclass(frozen=True)
class PurgeResult:
    ran: bool
    lessons_frozen: int = 0
    summaries_deleted: int = 0
    lessons_deleted: int = 0
    audit_deleted: int = 0


def check_audit_days(days: int) -> int:
    """``days`` if a school may keep its audit log that long; InvalidRequest otherwise."""
    if not AUDIT_DAYS_MIN <= days <= AUDIT_DAYS_MAX:
        raise InvalidRequest(
            "the audit log retention must be from %(low)s to %(high)s days",
            low=AUDIT_DAYS_MIN,
            high=AUDIT_DAYS_MAX,
        )
    return days


def school_year_start(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(schools.check_timezone(timezone))
    year = local.year if local.month >= SCHOOL_YEAR_START_MONTH else local.year - 1
    return local.replace(
        year=year, month=SCHOOL_YEAR_START_MONTH, day=1, hour=0, minute=0, second=0, microsecond=0
    )


def purge(session: Session, *, now: datetime) -> PurgeResult:
    """Run the purge once; on PostgreSQL a concurrent run elsewhere makes this one skip."""
    with job_lock(session, PURGE_LOCK) as mine:
        if not mine:
            return PurgeResult(ran=False)
        frozen = deleted = dropped = 0
        audited = _purge_audit(session, None, now - timedelta(days=AUDIT_DAYS_DEFAULT))
        for school in session.scalars(select(School).order_by(School.id)).all():
            f, d, x = _purge_school(session, school, now)
            frozen, deleted, dropped = frozen + f, deleted + d, dropped + x
            cutoff = now - timedelta(days=school.audit_retention_days)
            audited += _purge_audit(session, school.id, cutoff)
        return PurgeResult(True, frozen, deleted, dropped, audited)


def _purge_audit(session: Session, school_id: int | None, cutoff: datetime) -> int:
    """Delete the audit entries of one school (None: of no school) from before ``cutoff``."""
    of_school = (
        AuditEntry.school_id.is_(None) if school_id is None else AuditEntry.school_id == school_id
    )
    gone = session.execute(
        delete(AuditEntry).where(of_school, AuditEntry.at < cutoff),
        execution_options={"synchronize_session": False},
    )
    return _rowcount(gone)


def _purge_school(session: Session, school: School, now: datetime) -> tuple[int, int, int]:
    cutoff = now - timedelta(days=school.retention_days)
    due = session.scalars(
        select(Lesson)
        .outerjoin(LessonAggregate, LessonAggregate.lesson_id == Lesson.id)
        .where(Lesson.school_id == school.id, Lesson.end < cutoff)
        .where(LessonAggregate.lesson_id.is_(None))
    ).all()
    _freeze(session, due, now)
    past = select(Lesson.id).where(Lesson.school_id == school.id, Lesson.end < cutoff)
    deleted = _rowcount(
        session.execute(
            delete(DeviceLessonSummary).where(DeviceLessonSummary.lesson_id.in_(past)),
            execution_options={"synchronize_session": False},
        )
    )
    # Kept totals go with the summaries they were counted from: the frozen numbers take over.
    session.execute(
        delete(LessonTotals).where(LessonTotals.lesson_id.in_(past)),
        execution_options={"synchronize_session": False},
    )
    old = select(Lesson.id).where(
        Lesson.school_id == school.id, Lesson.end < school_year_start(now, school.timezone)
    )
    no_sync = {"synchronize_session": False}
    for table in (Permission, LessonAggregate, LessonTotals, DeviceLessonSummary):
        session.execute(delete(table).where(table.lesson_id.in_(old)), execution_options=no_sync)
    gone = session.execute(delete(Lesson).where(Lesson.id.in_(old)), execution_options=no_sync)
    return len(due), deleted, _rowcount(gone)


def _freeze(session: Session, lessons: Sequence[Lesson], now: datetime) -> None:
    """Keep the lessons' report numbers in ``lesson_aggregates``, counted by the report's own
    ``numbers_of`` a batch at a time: a purge held up for weeks (or the first after an upgrade)
    never holds more than one batch's summaries in memory."""
    for i in range(0, len(lessons), BATCH):
        numbers = numbers_of(session, lessons[i : i + BATCH])
        session.add_all(
            LessonAggregate(lesson_id=lesson_id, frozen_at=now, data=data)
            for lesson_id, data in numbers.items()
        )
        session.flush()


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
