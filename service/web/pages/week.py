"""The lessons page: today's lessons and this week's, in school time.

Teachers see the lessons they teach; leaders and admins every lesson of the school.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.model import Lang
from service import access
from service.access import Ability
from service.actors import Actor
from service.lessons import records as lessons
from service.models import Lesson, Permission, School, User
from service.schools import registry as schools
from service.web.i18n import translator
from service.web.pages.common import lesson_card


def week_page(session: Session, *, viewer: User, now: datetime, lang: Lang) -> dict[str, Any]:
    actor = Actor.of_user(viewer)
    access.require(actor, Ability.STAFF_PAGES)
    scope = access.lesson_scope(actor)
    t = translator(lang)
    school = session.get_one(School, viewer.school_id)
    tz = schools.check_timezone(school.timezone)
    today = now.astimezone(tz).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), datetime.min.time(), tz)
    query = select(Lesson).where(
        Lesson.school_id == school.id,
        Lesson.start >= monday,
        Lesson.start < monday + timedelta(weeks=1),
    )
    if scope == "own":
        query = query.where(Lesson.teacher_id == viewer.id)
    rows = lessons.lesson_rows(session, query)
    granted = _with_active_permission(session, [r.lesson.id for r in rows])
    cards = [
        {**lesson_card(r.to_json(), tz=tz, now=now, t=t), "permission": r.lesson.id in granted}
        for r in rows
    ]
    days: dict[str, dict[str, Any]] = {}
    for card in cards:
        days.setdefault(
            card["day"], {"day": card["day"], "label": card["day_label"], "lessons": []}
        )
        days[card["day"]]["lessons"].append(card)
    return {
        "today": [c for c in cards if c["day"] == today.isoformat()],
        "week": list(days.values()),
        "week_start": monday.date().isoformat(),
        "scope": scope,
    }


def _with_active_permission(session: Session, lesson_ids: list[str]) -> set[str]:
    if not lesson_ids:
        return set()
    query = select(Permission.lesson_id).where(
        Permission.lesson_id.in_(lesson_ids), Permission.withdrawn_at.is_(None)
    )
    return set(session.scalars(query))
