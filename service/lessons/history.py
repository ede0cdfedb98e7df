"""Which lessons a person may list, of a week or a date range, with filters (issue 17, history):
the one operation behind ``/lessons`` and its JSON twin.

A teacher lists the lessons they teach and nothing else, whatever the filters say (a filter by
teacher is for leaders and admins, and refused to a teacher); leaders and admins list the whole
school, filtered by group, teacher, subject and dates. Names are matched within the actor's
school only, so another school's names find nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import access
from service.access import Ability
from service.actors import Actor
from service.errors import Forbidden, InvalidRequest
from service.lessons.records import LessonRow, lesson_rows
from service.models import Group, Lesson, User
from service.reports.attention import monday_of, week_key

MAX_DAYS = 92  # a date range of about a school term; longer lists want the CSV export


@dataclass(frozen=True)
class History:
    """What to list: the days ``first`` to ``last`` (school time) and the filters, all kept in
    the URL: ``?week=2026-W48`` or ``?from=2026-11-02&to=2026-11-20``, ``group``, ``teacher``,
    ``subject``."""

    first: date
    last: date
    week: bool  # a whole ISO week (navigated by week) rather than a range
    group: str | None = None
    teacher: str | None = None
    subject: str | None = None

    def query(self, **changes: Any) -> dict[str, str]:
        chosen = replace(self, **changes)
        out = (
            {"week": week_key(chosen.first)}
            if chosen.week
            else {"from": chosen.first.isoformat(), "to": chosen.last.isoformat()}
        )
        for key in ("group", "teacher", "subject"):
            value = asdict(chosen)[key]
            if value:
                out[key] = value
        return out

    def shifted(self, weeks: int) -> History:
        """The whole week ``weeks`` from the one ``first`` falls in (0: that week), filters
        kept."""
        first = self.first - timedelta(days=self.first.weekday()) + timedelta(weeks=weeks)
        return replace(self, first=first, last=first + timedelta(days=6), week=True)


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest("%(what)s must be a date (YYYY-MM-DD)", what=what) from None


def parse_history(params: Mapping[str, str], *, today: date) -> History:
    """The days and filters of a URL; without ``week`` or ``from``: the week of ``today``."""
    week = params.get("week", "").strip()
    first_text, last_text = params.get("from", "").strip(), params.get("to", "").strip()
    names = {k: params.get(k, "").strip()[:100] or None for k in ("group", "teacher", "subject")}
    if first_text:
        first = _day(first_text, "from")
        last = _day(last_text, "to") if last_text else first + timedelta(days=6)
        if last < first or (last - first).days >= MAX_DAYS:
            raise InvalidRequest(
                "choose a range of at most %(limit)s days, from before to", limit=MAX_DAYS
            )
        return History(first, last, week=False, **names)
    monday = monday_of(week) if week else today - timedelta(days=today.weekday())
    return History(monday, monday + timedelta(days=6), week=True, **names)


def list_lessons(
    session: Session, *, actor: Actor, history: History, tz: ZoneInfo
) -> list[LessonRow]:
    """The lessons of ``history`` the actor may open, in time order."""
    access.require(actor, Ability.STAFF_PAGES)
    scope = access.lesson_scope(actor)
    if scope == "none":
        return []
    start = datetime.combine(history.first, time(), tz)
    end = datetime.combine(history.last + timedelta(days=1), time(), tz)
    query = select(Lesson).where(
        Lesson.school_id == actor.school_id, Lesson.start >= start, Lesson.start < end
    )
    if scope == "own":
        if history.teacher is not None:
            raise Forbidden("you may only open lessons you teach")
        query = query.where(Lesson.teacher_id == actor.user_id)
    if history.group is not None:
        query = query.where(
            Lesson.group_id.in_(
                select(Group.id).where(
                    Group.school_id == actor.school_id, Group.name == history.group
                )
            )
        )
    if history.teacher is not None:
        query = query.where(
            Lesson.teacher_id.in_(
                select(User.id).where(
                    User.school_id == actor.school_id, User.username == history.teacher
                )
            )
        )
    if history.subject is not None:
        query = query.where(Lesson.subject == history.subject)
    return lesson_rows(session, query)


def choices(session: Session, *, actor: Actor) -> dict[str, list[str]]:
    """The names the filters offer a leader or admin: the school's groups, teachers of its
    lessons and subjects. A teacher gets none (their list is their own lessons)."""
    if access.lesson_scope(actor) != "school":
        return {"groups": [], "teachers": [], "subjects": []}
    school = actor.school_id
    groups = select(Group.name).where(Group.school_id == school).order_by(Group.name)
    teachers = (
        select(User.username)
        .where(
            User.school_id == school,
            User.id.in_(select(Lesson.teacher_id).where(Lesson.school_id == school)),
        )
        .order_by(User.username)
    )
    subjects = (
        select(Lesson.subject)
        .where(Lesson.school_id == school, Lesson.subject.is_not(None))
        .distinct()
        .order_by(Lesson.subject)
    )
    return {
        "groups": list(session.scalars(groups)),
        "teachers": list(session.scalars(teachers)),
        "subjects": [s for s in session.scalars(subjects) if s],
    }
