"""A group's week for admins (days as columns, lessons as blocks) and editing one lesson.

Blocks are placed by their local start and end between the week's first and last hour, so
the page needs no JavaScript. The holidays the school reads (its own, else the shared
reference) in its region mark their days and lessons; cancelled, remote and edited lessons are
marked too.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import InvalidRequest
from service.models import Group, Lesson, Room, School, User
from service.schools import registry as schools
from service.timetable import REGIONS, holiday_at
from service.timetable_store import editing, holidays
from service.web.pages.common import Translate, day_label
from service.web.pages.timetable_import import groups_of
from service.web.pages.timetable_sources import school_of

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_day(value: str, what: str) -> date:
    problem = InvalidRequest("%(what)s must be a date like 2026-11-23", what=what)
    if len(value.strip()) != 10:
        raise problem
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise problem from None


def parse_clock(value: str, what: str) -> time:
    found = _CLOCK.match(value.strip())
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:
        raise InvalidRequest("%(what)s must be a time like 08:30", what=what)
    return time(int(found[1]), int(found[2]))


def _day_holidays(
    session: Session, school: School, tz: ZoneInfo, days: list[date]
) -> dict[date, str]:
    if school.holiday_region not in REGIONS:
        return {}
    region = str(school.holiday_region)
    found = holidays.stored(
        session, school_id=school.id, region=region, first=days[0], last=days[-1]
    )
    marked = {}
    for day in days:
        holiday = holiday_at(
            datetime.combine(day, time(12), tz),
            region,
            found,
            tz,
            include_advised=school.holiday_advised,
        )
        if holiday is not None:
            marked[day] = holiday.name
    return marked


def _minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def week_view(
    session: Session,
    *,
    viewer: User,
    group: str | None,
    week: str | None,
    now: datetime,
    t: Translate,
) -> dict[str, Any]:
    school = school_of(session, viewer)
    tz = schools.check_timezone(school.timezone)
    names = groups_of(session, school.id)
    if group is not None and group not in names:
        raise InvalidRequest("no such group")
    chosen = group or (names[0] if names else None)
    day = parse_day(week, "the week") if week else now.astimezone(tz).date()
    monday = day - timedelta(days=day.weekday())
    first = datetime.combine(monday, time(), tz)
    rows: list[tuple[Lesson, str | None, str | None]] = []
    if chosen is not None:
        query = (
            select(Lesson, User.username, Room.name)
            .join(Group, Group.id == Lesson.group_id)
            .outerjoin(User, User.id == Lesson.teacher_id)
            .outerjoin(Room, Room.id == Lesson.room_id)
            .where(
                Lesson.school_id == school.id,
                Group.name == chosen,
                Lesson.start >= first,
                Lesson.start < first + timedelta(weeks=1),
            )
            .order_by(Lesson.start, Lesson.id)
        )
        rows = [(r[0], r[1], r[2]) for r in session.execute(query)]
    off = holidays.in_holiday(session, school, [r[0] for r in rows])
    days = [monday + timedelta(days=i) for i in range(7)]
    used = {r[0].start.astimezone(tz).weekday() for r in rows}
    shown = [d for d in days if d.weekday() < 5 or d.weekday() in used]
    starts = [_minutes(r[0].start.astimezone(tz)) for r in rows]
    ends = [_minutes(r[0].end.astimezone(tz)) or 24 * 60 for r in rows]
    top = min([8 * 60, *starts]) // 60 * 60
    bottom = -(-max([16 * 60, *ends]) // 60) * 60
    span = bottom - top
    by_day: dict[date, list[dict[str, Any]]] = {d: [] for d in shown}
    for lesson, username, room in rows:
        start, end = lesson.start.astimezone(tz), lesson.end.astimezone(tz)
        begin = _minutes(start)
        finish = _minutes(end) if end.date() == start.date() else 24 * 60
        by_day[start.date()].append(
            {
                "id": lesson.id,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "time_label": f"{start:%H:%M}–{end:%H:%M}",
                "subject": lesson.subject,
                "teacher": username or lesson.teacher_code,
                "room": room,
                "cancelled": lesson.cancelled,
                "remote": lesson.remote,
                "holiday": off.get(lesson.id),
                "edited": list(lesson.edited or []),
                "source": lesson.source,
                "over": lesson.end <= now,
                "top": round(100 * (begin - top) / span, 3),
                "height": round(100 * max(finish - begin, 15) / span, 3),
            }
        )
    marked = _day_holidays(session, school, tz, days)
    return {
        "groups": names,
        "group": chosen,
        "week_start": monday.isoformat(),
        "previous": (monday - timedelta(weeks=1)).isoformat(),
        "next": (monday + timedelta(weeks=1)).isoformat(),
        "hours": [f"{h:02d}:00" for h in range(top // 60, bottom // 60)],
        "hour_height": round(100 * 60 / span, 3),
        "days": [
            {
                "day": d.isoformat(),
                "label": day_label(d, t),
                "holiday": marked.get(d),
                "lessons": by_day[d],
            }
            for d in shown
        ],
    }


def lesson_form(session: Session, *, viewer: User, lesson_id: str, now: datetime) -> dict[str, Any]:
    school = school_of(session, viewer)
    tz = schools.check_timezone(school.timezone)
    lesson = editing.lesson_of(session, school=school, lesson_id=lesson_id)
    shown = editing.current(session, lesson)
    start, end = shown.start.astimezone(tz), shown.end.astimezone(tz)
    group = session.get_one(Group, lesson.group_id).name
    return {
        "id": lesson.id,
        "group": group,
        "subject": lesson.subject,
        "source": lesson.source,
        "day": start.date().isoformat(),
        "start": f"{start:%H:%M}",
        "end": f"{end:%H:%M}",
        "teacher": shown.teacher or "",
        "room": shown.room or "",
        "remote": shown.remote,
        "cancelled": shown.cancelled,
        "edited": list(lesson.edited or []),
        "over": lesson.end <= now,
        "week": (start.date() - timedelta(days=start.weekday())).isoformat(),
    }


def save_lesson(
    session: Session,
    *,
    viewer: User,
    lesson_id: str,
    day: str,
    start: str,
    end: str,
    teacher: str,
    room: str,
    remote: bool,
    cancelled: bool,
    now: datetime,
) -> tuple[tuple[str, ...], str]:
    """Apply the edit; returns the fields changed and the week view to go back to."""
    school = school_of(session, viewer)
    tz = schools.check_timezone(school.timezone)
    when = parse_day(day, "the day")
    begin = datetime.combine(when, parse_clock(start, "the start"), tz)
    finish = datetime.combine(when, parse_clock(end, "the end"), tz)
    edit = editing.LessonEdit(
        start=begin,
        end=finish,
        teacher=teacher or None,
        room=room or None,
        remote=remote,
        cancelled=cancelled,
    )
    changed = editing.edit_lesson(
        session,
        school=school,
        lesson_id=lesson_id,
        edit=edit,
        actor=f"user:{viewer.username}",
        now=now,
    )
    lesson = session.get_one(Lesson, lesson_id)
    group = session.get_one(Group, lesson.group_id).name
    monday = when - timedelta(days=when.weekday())
    query = urlencode({"group": group, "week": monday.isoformat()})
    return changed, f"/admin/timetable/week?{query}"


def clear_lesson(session: Session, *, viewer: User, lesson_id: str, now: datetime) -> None:
    school = school_of(session, viewer)
    editing.clear_edits(
        session, school=school, lesson_id=lesson_id, actor=f"user:{viewer.username}", now=now
    )
