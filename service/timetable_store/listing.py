"""Lessons as listings show them: UTC times, names resolved, and the holiday they fall in."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from policies.wire import format_time
from service.models import Group, Lesson, Room, School, User
from service.schools import registry as schools
from service.timetable_store import holidays


def list_lessons(
    session: Session,
    *,
    school: School,
    group: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> list[dict[str, Any]]:
    """Lessons starting on the days ``first`` to ``last`` (inclusive, school time), in order.

    ``teacher`` is the teacher's username, or the source's teacher code when no user has it;
    ``holiday`` is present only for a lesson in a holiday of the school's region.
    """
    tz = schools.check_timezone(school.timezone)
    room = aliased(Room)
    query = (
        select(Lesson, Group.name, User.username, room.name)
        .join(Group, Group.id == Lesson.group_id)
        .outerjoin(User, User.id == Lesson.teacher_id)
        .outerjoin(room, room.id == Lesson.room_id)
        .where(Lesson.school_id == school.id)
        .order_by(Lesson.start, Lesson.id)
    )
    if group is not None:
        query = query.where(Group.name == group)
    if first is not None:
        query = query.where(Lesson.start >= datetime.combine(first, time(), tz))
    if last is not None:
        query = query.where(Lesson.start < datetime.combine(last + timedelta(days=1), time(), tz))
    rows = session.execute(query).all()
    off = holidays.in_holiday(session, school, [r[0] for r in rows])
    found = []
    for lesson, group_name, username, room_name in rows:
        item: dict[str, Any] = {
            "id": lesson.id,
            "group": group_name,
            "teacher": username or lesson.teacher_code,
            "subject": lesson.subject,
            "room": room_name,
            "start": format_time(lesson.start),
            "end": format_time(lesson.end),
            "remote": lesson.remote,
            "cancelled": lesson.cancelled,
        }
        if lesson.id in off:
            item["holiday"] = off[lesson.id]
        found.append(item)
    return found
