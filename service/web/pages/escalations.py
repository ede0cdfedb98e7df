"""Escalations for leaders and admins: the school's recent lessons with findings, in time
order, as aggregate numbers with small counts suppressed; no ranking of anyone.

The numbers of all the lessons come from ``service.lesson_totals`` in a fixed number of
queries, however many lessons the window holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.model import Lang
from service.lessons import permissions
from service.lessons import records as lessons
from service.models import Lesson, School, User
from service.reports import totals as lesson_totals
from service.reports.numbers import suppress_rows
from service.schools import registry as schools
from service.web import access
from service.web.i18n import translator
from service.web.pages.common import lesson_card, minutes

DAYS = 14


def escalations_page(
    session: Session, *, viewer: User, now: datetime, lang: Lang
) -> dict[str, Any]:
    access.require_role(viewer, access.SCHOOL_WIDE)
    t = translator(lang)
    school = session.get_one(School, viewer.school_id)
    tz = schools.check_timezone(school.timezone)
    labels = {c: cat.label(lang) for c, cat in permissions.school_policy(school).categories.items()}
    query = select(Lesson).where(
        Lesson.school_id == school.id,
        Lesson.start >= now - timedelta(days=DAYS),
        Lesson.start <= now,
    )
    out = []
    fewer = t("fewer than %(n)s", n=school.small_count_threshold)
    rows = lessons.lesson_rows(session, query)
    totals = lesson_totals.for_lessons(session, [row.lesson for row in rows], expected=True)
    for row in rows:
        numbers = totals[row.lesson.id]
        if not numbers["categories"]:
            continue
        out.append(
            {
                "lesson": lesson_card(row.to_json(), tz=tz, now=now, t=t),
                "devices_expected": numbers["devices_expected"],
                "devices_reporting": numbers["devices_reporting"],
                "categories": [
                    {
                        **c,
                        "label": labels.get(c["category"], c["category"]),
                        "devices_text": fewer if c["devices"] is None else str(c["devices"]),
                        "minutes": None if c["seconds"] is None else minutes(c["seconds"]),
                    }
                    for c in suppress_rows(numbers["categories"], school.small_count_threshold)
                ],
            }
        )
    return {"days": DAYS, "lessons": out, "suppressed_below": school.small_count_threshold}
