"""Gathering one lesson's report: access rules, stored numbers or live summaries, audit.

The JSON route, the CLI ``report`` command and (later) the HTML page all call ``lesson_report``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from policies.wire import parse_summary
from service import audit
from service.errors import Forbidden, NotFound
from service.lessons import records as lessons
from service.models import Device, DeviceLessonSummary, Lesson, LessonAggregate, School, User
from service.reports.numbers import report_numbers, suppress_small_counts
from service.timetable_store import holidays

# Who may read which lesson's report. IT manages devices, not what pupils do in class.
ALL_LESSONS = ("admin", "leader")
OWN_LESSONS = ("teacher",)


def check_access(viewer: User | None, lesson: Lesson) -> None:
    """``viewer`` None is the local CLI, run by whoever administers the server."""
    if viewer is not None and viewer.school_id != lesson.school_id:
        # As unknown as a lesson that does not exist: a 403 would tell that the id is taken.
        raise NotFound(f"no lesson {lesson.id[:64]!r}")
    if viewer is None or viewer.role in ALL_LESSONS:
        return
    if viewer.role in OWN_LESSONS and lesson.teacher_id == viewer.id:
        return
    raise Forbidden("you may only see reports of lessons you teach")


def live_numbers(session: Session, lesson: Lesson) -> dict[str, Any]:
    expected = session.scalar(
        select(func.count())
        .select_from(Device)
        .where(
            Device.group_id == lesson.group_id,
            Device.retired.is_(False),
            Device.enrolled_at < lesson.end,
        )
    )
    rows = session.execute(
        select(DeviceLessonSummary.device_id, DeviceLessonSummary.summary)
        .where(DeviceLessonSummary.lesson_id == lesson.id)
        .order_by(DeviceLessonSummary.id)
    )
    return report_numbers(
        lesson_start=lesson.start,
        lesson_end=lesson.end,
        devices_expected=expected or 0,
        summaries=[(device, parse_summary(data)) for device, data in rows],
    )


def stored_numbers(session: Session, lesson: Lesson) -> dict[str, Any]:
    """The report numbers: frozen by the retention purge, else counted from the summaries."""
    frozen = session.get(LessonAggregate, lesson.id)
    return frozen.data if frozen is not None else live_numbers(session, lesson)


def lesson_report(
    session: Session, *, lesson_id: str, viewer: User | None, now: datetime
) -> dict[str, Any]:
    row = lessons.get_lesson(session, lesson_id)
    check_access(viewer, row.lesson)
    school = session.get_one(School, row.lesson.school_id)
    # Nothing is monitored in a holiday of the school's region: the report says why it is empty.
    holiday = holidays.in_holiday(session, school, [row.lesson]).get(lesson_id)
    frozen = session.get(LessonAggregate, lesson_id)
    numbers = frozen.data if frozen is not None else live_numbers(session, row.lesson)
    report: dict[str, Any] = {
        "lesson": row.to_json(),
        "source": "aggregate" if frozen is not None else "summaries",
        **numbers,
        "permissions": [
            {**lessons.permission_json(p), "note": p.note}
            for p in lessons.permissions_for(session, [lesson_id])
        ],
        "suppressed_below": None,
    }
    if holiday is not None:
        report["holiday"] = holiday  # present only then, as in the lesson listings
    audit.record(
        session,
        actor=f"user:{viewer.username}" if viewer else "cli",
        school_id=school.id,
        action="report.view",
        obj=f"lesson:{lesson_id}",
        now=now,
    )
    if viewer is not None and viewer.role in OWN_LESSONS:
        report = suppress_small_counts(report, school.small_count_threshold)
    return report
