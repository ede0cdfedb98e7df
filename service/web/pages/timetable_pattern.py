"""The weekly pattern page, for schools without a timetable export: blocks per weekday for a
group and a date range, generated into lessons (``service.timetable_store.patterns``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.errors import InvalidRequest
from service.models import User
from service.schools import registry as schools
from service.timetable import TimetableError
from service.timetable.limits import school_year
from service.timetable_store import patterns
from service.web.i18n import labels
from service.web.pages.common import Translate
from service.web.pages.timetable_import import groups_of
from service.web.pages.timetable_sources import school_of
from service.web.pages.timetable_week import parse_day


def pattern_page(
    session: Session, *, viewer: User, group: str | None, now: datetime, t: Translate
) -> dict[str, Any]:
    school = school_of(session, viewer)
    tz = schools.check_timezone(school.timezone)
    saved = patterns.patterns(session, school=school)
    chosen = next((p for p in saved if p["group"] == group), None) if group else None
    year = school_year(now.astimezone(tz).date(), tz)
    form = chosen or {
        "group": group or "",
        "first": now.astimezone(tz).date().isoformat(),
        "last": (year.end - timedelta(days=1)).date().isoformat(),
        "days": {},
        "teacher": None,
        "room": None,
    }
    return {
        "groups": groups_of(session, school.id),
        "patterns": saved,
        "form": {**form, "days": {str(i): form["days"].get(str(i), "") for i in range(5)}},
        "weekdays": [{"index": str(i), "label": t(labels.WEEKDAYS[i])} for i in range(5)],
    }


def save_pattern(
    session: Session,
    *,
    viewer: User,
    group: str,
    first: str,
    last: str,
    days: dict[int, str],
    teacher: str,
    room: str,
    now: datetime,
) -> dict[str, Any]:
    school = school_of(session, viewer)
    if not group.strip():
        raise InvalidRequest("the group is required")
    if not any(text.strip() for text in days.values()):
        raise InvalidRequest("give the blocks of at least one weekday")
    try:
        parsed = patterns.parse(
            group=group.strip(),
            first=parse_day(first, "the first day"),
            last=parse_day(last, "the last day"),
            days=days,
            teacher=teacher.strip() or None,
            room=room.strip() or None,
        )
        return patterns.save(
            session,
            school=school,
            pattern=parsed,
            days=days,
            now=now,
            actor=f"user:{viewer.username}",
        )
    except TimetableError as exc:
        raise InvalidRequest("%(problem)s", problem=exc) from None
