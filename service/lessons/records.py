"""Lessons and the permissions granted for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.wire import format_time
from service import access, audit, credentials
from service.access import Ability
from service.actors import Actor
from service.errors import InvalidRequest, NotFound
from service.models import Group, Lesson, Permission, Room, School, User
from service.schools import registry as schools

MAX_LESSON = timedelta(hours=12)


@dataclass(frozen=True)
class LessonRow:
    """A lesson with its names resolved, as listings and reports show it."""

    lesson: Lesson
    group: str
    teacher: str | None
    room: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.lesson.id,
            "group": self.group,
            "teacher": self.teacher,
            "subject": self.lesson.subject,
            "room": self.room,
            "start": format_time(self.lesson.start),
            "end": format_time(self.lesson.end),
            "remote": self.lesson.remote,
            "cancelled": self.lesson.cancelled,
        }


def add_lesson(
    session: Session,
    *,
    school: School,
    group: str,
    start: datetime,
    end: datetime,
    now: datetime,
    teacher: User | None = None,
    subject: str | None = None,
    room: str | None = None,
    remote: bool = False,
    actor: Actor | None = None,
) -> Lesson:
    """Add one lesson by hand. ``actor`` defaults to the school's operator (the command line,
    the demo seed and test set-up); the teacher must be a user of the same school."""
    actor = actor or Actor.operator(school)
    access.require(actor, Ability.ADMINISTER)
    access.require_same_school(actor, school.id, NotFound("no such school"))
    if teacher is not None:
        access.require_same_school(
            actor, teacher.school_id, NotFound("no user %(name)r", name=teacher.username)
        )
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("start and end need a time zone")
    if not start < end <= start + MAX_LESSON:
        raise InvalidRequest("end must follow start by at most 12 hours")
    if subject is not None and len(subject) > 100:
        raise InvalidRequest("subject must be at most 100 characters")
    lesson = Lesson(
        id=credentials.new_id("l_"),
        school_id=school.id,
        group_id=schools.group(session, school, group).id,
        teacher_id=teacher.id if teacher else None,
        subject=subject,
        room_id=schools.room(session, school, room).id if room else None,
        start=start,
        end=end,
        remote=remote,
        cancelled=False,
    )
    session.add(lesson)
    session.flush()
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="lesson.add",
        obj=f"lesson:{lesson.id}",
        now=now,
    )
    return lesson


def lesson_rows(session: Session, query: Any) -> list[LessonRow]:
    """The lessons a ``select(Lesson)`` query finds, with group, teacher and room names."""
    full = (
        query.add_columns(Group.name, User.username, Room.name)
        .join(Group, Group.id == Lesson.group_id)
        .outerjoin(User, User.id == Lesson.teacher_id)
        .outerjoin(Room, Room.id == Lesson.room_id)
        .order_by(Lesson.start, Lesson.id)
    )
    return [LessonRow(r[0], r[1], r[2], r[3]) for r in session.execute(full)]


def get_lesson(session: Session, lesson_id: str) -> LessonRow:
    rows = lesson_rows(session, select(Lesson).where(Lesson.id == lesson_id))
    if not rows:
        raise NotFound("no lesson %(id)r", id=lesson_id[:64])
    return rows[0]


def grant_permission(
    session: Session,
    *,
    lesson: Lesson,
    categories: Sequence[str],
    now: datetime,
    granted_by: int | None = None,
    note: str | None = None,
) -> Permission:
    """Store a permission row as given: no access check, no audit entry. People grant through
    ``service.lessons.permissions.grant``; this is for it, the demo school and test set-up."""
    if not categories:
        raise InvalidRequest("a permission names at least one category")
    permission = Permission(
        lesson_id=lesson.id,
        categories=sorted(set(categories)),
        granted_by=granted_by,
        note=note,
        granted_at=now,
    )
    session.add(permission)
    session.flush()
    return permission


def permissions_for(session: Session, lesson_ids: Sequence[str]) -> list[Permission]:
    if not lesson_ids:
        return []
    query = (
        select(Permission)
        .where(Permission.lesson_id.in_(lesson_ids))
        .order_by(Permission.granted_at, Permission.id)
    )
    return list(session.scalars(query))


def permission_json(permission: Permission) -> dict[str, Any]:
    return {
        "lesson_id": permission.lesson_id,
        "categories": list(permission.categories),
        "granted_at": format_time(permission.granted_at),
        "withdrawn_at": format_time(permission.withdrawn_at) if permission.withdrawn_at else None,
    }
