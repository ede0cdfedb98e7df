"""The lessons page: today's lessons and a week's (this one by default, any other by its
links) or a date range, in school time.

Teachers see the lessons they teach; leaders and admins every lesson of the school, filtered by
group, teacher and subject. Which lessons is ``service.lessons.history.list_lessons``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.model import Lang
from service import access
from service.access import Ability
from service.actors import Actor
from service.lessons import history
from service.models import Permission, School, User
from service.reports.attention import week_key
from service.schools import registry as schools
from service.web.i18n import translator
from service.web.pages.common import lesson_card


def week_page(
    session: Session,
    *,
    viewer: User,
    now: datetime,
    lang: Lang,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Today's lessons and those of the chosen week or date range (``service.lessons.history``:
    ``?week=``, ``?from=&to=``, and for leaders and admins ``group``, ``teacher``,
    ``subject``), with links to the week before and after that keep the filters."""
    actor = Actor.of_user(viewer)
    access.require(actor, Ability.STAFF_PAGES)
    scope = access.lesson_scope(actor)
    t = translator(lang)
    school = session.get_one(School, viewer.school_id)
    tz = schools.check_timezone(school.timezone)
    today = now.astimezone(tz).date()
    chosen = history.parse_history(params or {}, today=today)
    rows = history.list_lessons(session, actor=actor, history=chosen, tz=tz)
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
    this_week = chosen.week and chosen.first <= today <= chosen.last
    return {
        "today": [c for c in cards if c["day"] == today.isoformat()] if this_week else [],
        "this_week": this_week,
        "week": list(days.values()),
        "week_start": chosen.first.isoformat(),
        "week_key": week_key(chosen.first) if chosen.week else None,
        "first": chosen.first.isoformat(),
        "last": chosen.last.isoformat(),
        "scope": scope,
        "filters": {"group": chosen.group, "teacher": chosen.teacher, "subject": chosen.subject},
        "choices": history.choices(session, actor=actor),
        "links": {
            "previous_week": _url(chosen.shifted(-1).query()),
            "next_week": _url(chosen.shifted(1).query()),
            "this_week": _url(replace(chosen, first=today, last=today).shifted(0).query()),
        },
    }


def _url(query: Mapping[str, str]) -> str:
    return "/lessons?" + urlencode(query)


def _with_active_permission(session: Session, lesson_ids: list[str]) -> set[str]:
    if not lesson_ids:
        return set()
    query = select(Permission.lesson_id).where(
        Permission.lesson_id.in_(lesson_ids), Permission.withdrawn_at.is_(None)
    )
    return set(session.scalars(query))
