"""Applying a sync plan to the lessons table, inside the caller's transaction.

Lessons are matched by ``(school, source, uid, recurrence_id)`` (a unique constraint), updated
in place so their ids, permissions and reports stay, and inserted or deleted in bulk. Groups and
rooms are created on first use; a teacher code becomes the lesson's teacher when a user of the
school has it as username (the code is kept either way). A lesson the source dropped is deleted,
unless something already refers to it (a permission, a report): then it is kept, cancelled and
detached from the source, so history stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session, aliased

from service import audit, credentials
from service.models import Base, Group, Lesson, Room, School, User
from service.schools import registry as schools
from service.timetable.diff import Plan, plan_sync
from service.timetable.edits import keep_edits
from service.timetable.model import ImportResult, Key, Occurrence

CHUNK = 500  # rows per statement: well under SQLite's and psycopg's parameter limits


@dataclass(frozen=True)
class Stored:
    """The stored lessons of one source, as occurrences, the id of each, and admins' edits."""

    occurrences: list[Occurrence]
    ids: dict[Key, str]
    edits: dict[Key, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    inserted: int
    updated: int
    cancelled: int
    removed: int
    kept_cancelled: int  # dropped by the source but referred to, so cancelled instead

    def counts(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "cancelled": self.cancelled,
            "removed": self.removed,
            "kept_cancelled": self.kept_cancelled,
        }


def load(session: Session, *, school: School, source: str) -> Stored:
    room = aliased(Room)
    query = (
        select(Lesson, Group.name, room.name)
        .join(Group, Group.id == Lesson.group_id)
        .outerjoin(room, room.id == Lesson.room_id)
        .where(Lesson.school_id == school.id, Lesson.source == source)
    )
    occurrences, ids, edits = [], {}, {}
    for lesson, group, room_name in session.execute(query):
        occurrence = Occurrence(
            source=source,
            uid=lesson.uid or "",
            recurrence_id=lesson.recurrence_id or "",
            start=lesson.start,
            end=lesson.end,
            subject=lesson.subject,
            group=group,
            teacher=lesson.teacher_code,
            room=room_name,
            remote=lesson.remote,
            cancelled=lesson.cancelled,
        )
        occurrences.append(occurrence)
        ids[occurrence.key] = lesson.id
        if lesson.edited:
            edits[occurrence.key] = tuple(lesson.edited)
    return Stored(occurrences, ids, edits)


def plan(stored: Stored, imported: ImportResult, *, now: datetime) -> Plan:
    """The sync plan, leaving alone what an admin edited by hand (``service.timetable.edits``)."""
    kept = keep_edits(imported, stored.occurrences, stored.edits)
    return plan_sync(stored.occurrences, kept, now=now)


class _Names:
    """Group, room and teacher ids by code, looked up (or created) once per import."""

    def __init__(self, session: Session, school: School, occurrences: Iterable[Occurrence]):
        self.session, self.school = session, school
        items = list(occurrences)
        self.groups = {g: schools.group(session, school, g).id for g in _names(items, "group")}
        self.rooms = {r: schools.room(session, school, r).id for r in _names(items, "room")}
        codes = _names(items, "teacher")
        found = session.execute(
            select(User.username, User.id).where(
                User.school_id == school.id, User.username.in_(codes)
            )
        )
        self.teachers: dict[str, int] = {str(n): int(i) for n, i in found}

    def row(self, o: Occurrence) -> dict[str, Any]:
        assert o.group is not None, "require_groups runs before a plan is applied"
        return {
            "group_id": self.groups[o.group],
            "room_id": self.rooms[o.room] if o.room else None,
            "teacher_id": self.teachers.get(o.teacher) if o.teacher else None,
            "teacher_code": o.teacher,
            "subject": o.subject,
            "start": o.start,
            "end": o.end,
            "remote": o.remote,
            "cancelled": o.cancelled,
        }


def _names(items: Sequence[Occurrence], field: str) -> list[str]:
    return sorted({v for o in items if (v := getattr(o, field))})


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for first in range(0, len(rows), CHUNK):
        yield rows[first : first + CHUNK]


def _referenced(session: Session, ids: Sequence[str]) -> set[str]:
    """Lesson ids another table refers to; found from the schema, so new tables count too."""
    lessons_id = Lesson.__table__.c.id
    found: set[str] = set()
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is lessons_id and isinstance(table, Table):
                for first in range(0, len(ids), CHUNK):
                    chunk = ids[first : first + CHUNK]
                    found.update(session.scalars(select(fk.parent).where(fk.parent.in_(chunk))))
    return found


def apply(
    session: Session,
    *,
    school: School,
    plan: Plan,
    stored: Stored,
    now: datetime,
    actor: str,
    source: str,
) -> Applied:
    """Write the plan; all or nothing with the caller's transaction."""
    changes = [*plan.updates, *plan.cancellations]
    names = _Names(session, school, [*plan.inserts, *(c.after for c in changes)])
    inserts = [
        {
            "id": credentials.new_id("l_"),
            "school_id": school.id,
            "source": o.source,
            "uid": o.uid,
            "recurrence_id": o.recurrence_id,
            **names.row(o),
        }
        for o in plan.inserts
    ]
    for rows in _chunks(inserts):
        session.execute(insert(Lesson), rows)
    updates = [{"id": stored.ids[c.before.key], **names.row(c.after)} for c in changes]
    for rows in _chunks(updates):
        session.execute(update(Lesson), rows)
    gone = [stored.ids[o.key] for o in plan.removals]
    keep = _referenced(session, gone)
    for first in range(0, len(gone), CHUNK):
        chunk = [i for i in gone[first : first + CHUNK] if i not in keep]
        session.execute(
            delete(Lesson).where(Lesson.id.in_(chunk)),
            execution_options={"synchronize_session": False},
        )
    if keep:
        session.execute(
            update(Lesson)
            .where(Lesson.id.in_(sorted(keep)))
            .values(cancelled=True, source=None, uid=None, recurrence_id=None),
            execution_options={"synchronize_session": False},
        )
    session.expire_all()  # the bulk statements bypassed the objects the session holds
    applied = Applied(
        inserted=len(inserts),
        updated=len(plan.updates),
        cancelled=len(plan.cancellations),
        removed=len(gone) - len(keep),
        kept_cancelled=len(keep),
    )
    if not plan.empty:
        counts = ", ".join(f"{k} {v}" for k, v in applied.counts().items() if v)
        audit.record(
            session,
            actor=actor,
            school_id=school.id,
            action="timetable.sync",
            obj=f"source:{source[:100]}",
            now=now,
            reason=counts,
        )
    return applied
