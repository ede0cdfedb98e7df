"""An admin's edit of one lesson: move, cancel, mark remote, another teacher or room; audited.

The fields changed are added to ``lessons.edited``, so the next sync of the lesson's source
keeps them (``service.timetable.edits``). ``clear_edits`` hands the lesson back to its source.
Lessons that are over are history (reports refer to them) and are not edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit
from service.errors import Conflict, InvalidRequest, NotFound
from service.lessons.records import MAX_LESSON
from service.locale import N_
from service.models import Lesson, Room, School, User
from service.schools import registry as schools
from service.timetable.edits import check_fields
from service.timetable.model import MAX_NAME


@dataclass(frozen=True)
class LessonEdit:
    start: datetime
    end: datetime
    teacher: str | None  # a username or the timetable's teacher code; None: no teacher
    room: str | None
    remote: bool
    cancelled: bool


def lesson_of(session: Session, *, school: School, lesson_id: str) -> Lesson:
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or lesson.school_id != school.id:
        raise NotFound("no such lesson")
    return lesson


def current(session: Session, lesson: Lesson) -> LessonEdit:
    """The lesson as the edit form starts from."""
    teacher = session.get(User, lesson.teacher_id) if lesson.teacher_id else None
    room = session.get(Room, lesson.room_id) if lesson.room_id else None
    return LessonEdit(
        start=lesson.start,
        end=lesson.end,
        teacher=teacher.username if teacher else lesson.teacher_code,
        room=room.name if room else None,
        remote=lesson.remote,
        cancelled=lesson.cancelled,
    )


def _check(edit: LessonEdit) -> None:
    if edit.start.tzinfo is None or edit.end.tzinfo is None:
        raise InvalidRequest("start and end need a time zone")
    if not edit.start < edit.end <= edit.start + MAX_LESSON:
        raise InvalidRequest("the end must follow the start by at most 12 hours")
    for label, value in ((N_("teacher"), edit.teacher), (N_("room"), edit.room)):
        if value is not None and (len(value) > MAX_NAME or not value.isprintable()):
            raise InvalidRequest(
                "the %(field)s is 1 to %(limit)s printable characters",
                field=label,
                limit=MAX_NAME,
            )


def changed_fields(before: LessonEdit, after: LessonEdit) -> tuple[str, ...]:
    changed = set()
    if (before.start, before.end) != (after.start, after.end):
        changed.add("time")
    for name in ("teacher", "room", "remote", "cancelled"):
        if getattr(before, name) != getattr(after, name):
            changed.add(name)
    return check_fields(changed)


def edit_lesson(
    session: Session,
    *,
    school: School,
    lesson_id: str,
    edit: LessonEdit,
    actor: str,
    now: datetime,
) -> tuple[str, ...]:
    """Apply the edit; returns the fields it changed (none: nothing is written or audited)."""
    lesson = lesson_of(session, school=school, lesson_id=lesson_id)
    if lesson.end <= now:
        raise Conflict("this lesson is over; lessons that are over are kept as they were")
    _check(edit)
    changed = changed_fields(current(session, lesson), edit)
    if not changed:
        return ()
    lesson.start, lesson.end = edit.start, edit.end
    lesson.remote, lesson.cancelled = edit.remote, edit.cancelled
    if "teacher" in changed:
        user = (
            session.scalar(
                select(User).where(User.school_id == school.id, User.username == edit.teacher)
            )
            if edit.teacher
            else None
        )
        lesson.teacher_id = user.id if user else None
        lesson.teacher_code = edit.teacher
    if "room" in changed:
        lesson.room_id = schools.room(session, school, edit.room).id if edit.room else None
    lesson.edited = list(check_fields([*(lesson.edited or ()), *changed]))
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="lesson.edit",
        obj=f"lesson:{lesson.id}",
        now=now,
        reason=f"changed {', '.join(changed)}",
    )
    return changed


def clear_edits(
    session: Session, *, school: School, lesson_id: str, actor: str, now: datetime
) -> None:
    """Forget the lesson's edits: its source's next sync sets every field again."""
    lesson = lesson_of(session, school=school, lesson_id=lesson_id)
    if not lesson.edited:
        return
    lesson.edited = None
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="lesson.edit_clear",
        obj=f"lesson:{lesson.id}",
        now=now,
    )
