"""A group's trend over recent weeks: per week the lessons, how many reported, and the device
lessons with a finding and their minutes; aggregate numbers only, suppressed like a report.

It counts only the lessons the viewer may open (``access.lesson_scope``): a teacher's trend of a
group holds the lessons that teacher teaches, never a colleague's, so no difference of two
trends (or of a trend and the reports one may read) recovers a suppressed count.

The numbers of the group's ~180 lessons come from ``service.lesson_totals`` (kept per lesson),
not from their ~5,400 summaries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import localtime
from service import access
from service.actors import Actor
from service.models import Group, Lesson, School
from service.reports import totals as lesson_totals
from service.reports.attention import week_key
from service.reports.numbers import is_small_count
from service.schools import registry as schools
from service.web.pages.common import Translate, minutes

WEEKS = 6


def week_row(numbers: list[dict[str, Any]]) -> dict[str, int]:
    """One week's aggregate: a device counts once per lesson in which it had any finding."""
    with_finding = 0
    seconds = 0
    for n in numbers:
        counted = [c for c in n["categories"] if c["devices"]]
        with_finding += max((c["devices"] for c in counted), default=0)
        seconds += sum(c["seconds"] for c in counted)
    return {
        "lessons": len(numbers),
        "lessons_reported": sum(1 for n in numbers if n["devices_reporting"]),
        "device_lessons_with_findings": with_finding,
        "minutes": minutes(seconds),
    }


def group_trend(
    session: Session, *, lesson: Lesson, school: School, actor: Actor, now: datetime, t: Translate
) -> list[dict[str, Any]]:
    scope = access.lesson_scope(actor)
    if scope == "none" or school.id != actor.school_id:
        return []
    tz = schools.check_timezone(school.timezone)
    local = lesson.start.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0)
    first = monday - timedelta(weeks=WEEKS - 1)
    query = (
        select(Lesson.id, Lesson.group_id, Lesson.start, Lesson.end)
        .where(Lesson.school_id == school.id, Lesson.group_id == lesson.group_id)
        .where(Lesson.cancelled.is_(False))
        .where(Lesson.start >= first, Lesson.start < monday + timedelta(weeks=1))
        .where(Lesson.start <= now)
        .order_by(Lesson.start)
    )
    if scope == "own":
        query = query.where(Lesson.teacher_id == actor.user_id)
    rows = [lesson_totals.Span(*row) for row in session.execute(query)]
    numbers_of = lesson_totals.for_lessons(session, rows)
    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        weeks[week_key(localtime.local(row.start, tz).date())].append(numbers_of[row.id])
    out = []
    threshold = school.small_count_threshold
    group = session.get_one(Group, lesson.group_id).name
    for key in sorted(weeks):
        numbers = week_row(weeks[key])
        n = numbers["device_lessons_with_findings"]
        hidden = is_small_count(n, threshold)
        out.append(
            {
                "week": key,
                "label": t("Week %(week)s", week=int(key[-2:])),
                # That week's lessons of the group on the lessons page (issue 17, history).
                "href": "/lessons?" + urlencode({"week": key, "group": group}),
                **numbers,
                "device_lessons_with_findings": None if hidden else n,
                "minutes": None if hidden else numbers["minutes"],
                "devices_text": t("fewer than %(n)s", n=threshold) if hidden else str(n),
            }
        )
    return out
