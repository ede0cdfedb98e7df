"""Granting and withdrawing a permission for one lesson: the one operation of each, for the pages
and the command line.

The categories offered are those of the school's effective policy whose rules are on, apply to
devices in lessons and may be lifted by a permission. Whoever may open the lesson
(``service.access``) may grant or withdraw until the lesson ends, unless it is cancelled; the
agent config (``service.devices.agent_config``) carries both at the next poll. Each writes one
audit entry naming the actor by ``Actor.audit_name``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from policies.engine import DEVICE_SCOPES
from policies.model import Lang, Policy
from service import access, audit
from service.actors import Actor
from service.errors import Conflict, InvalidRequest, NotFound
from service.lessons import records as lessons
from service.models import Lesson, Permission, School
from service.schools import policy as policy_cache

MAX_NOTE = 500
# Permissions lift rules on pupils' devices in a lesson, never a staff rule.
_DEVICE_SCOPES = DEVICE_SCOPES["pupil"]


def school_policy(school: School) -> Policy:
    return policy_cache.policy_of(school)


def grantable_categories(policy: Policy) -> list[str]:
    found = {
        c
        for r in policy.rules
        if r.enabled and r.permission_lifts and r.applies_to & _DEVICE_SCOPES
        for c in r.categories
    }
    return sorted(found)


def category_choices(policy: Policy, lang: Lang) -> list[dict[str, Any]]:
    return [
        {"id": c, "label": policy.categories[c].label(lang)} for c in grantable_categories(policy)
    ]


def clean_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if not note:
        return None
    if len(note) > MAX_NOTE:
        raise InvalidRequest("the note may be at most %(limit)s characters", limit=MAX_NOTE)
    if any(not (c.isprintable() or c in "\n\t") for c in note):
        raise InvalidRequest("the note contains control characters")
    return note


def _open_lesson(session: Session, *, actor: Actor, lesson_id: str, now: datetime) -> Lesson:
    """The lesson, when the actor may open it and its permissions may still change."""
    lesson = lessons.get_lesson(session, lesson_id).lesson
    access.require_lesson(actor, lesson, lesson_id)
    if lesson.cancelled:
        raise Conflict("this lesson is cancelled")
    if now >= lesson.end:
        raise Conflict("this lesson is over; permissions can only change before or during it")
    return lesson


def grant(
    session: Session,
    *,
    actor: Actor,
    lesson_id: str,
    categories: Sequence[str],
    note: str | None,
    now: datetime,
) -> Permission:
    """Grant ``categories`` for one lesson: only grantable ones, never twice the same set."""
    lesson = _open_lesson(session, actor=actor, lesson_id=lesson_id, now=now)
    school = session.get_one(School, lesson.school_id)
    allowed = set(grantable_categories(school_policy(school)))
    if not categories:
        raise InvalidRequest("choose at least one category")
    unknown = sorted(set(categories) - allowed)
    if unknown:
        raise InvalidRequest(
            "no permission can be given for %(category)r", category=unknown[0][:64]
        )
    wanted = sorted(set(categories))
    for existing in lessons.permissions_for(session, [lesson.id]):
        if existing.withdrawn_at is None and sorted(existing.categories) == wanted:
            raise Conflict("this permission is in force already")
    permission = lessons.grant_permission(
        session,
        lesson=lesson,
        categories=wanted,
        now=now,
        granted_by=actor.user_id,
        note=clean_note(note),
    )
    audit.record(
        session,
        actor=actor,
        school_id=lesson.school_id,
        action="permission.grant",
        obj=f"lesson:{lesson.id}",
        now=now,
    )
    return permission


def withdraw(
    session: Session, *, actor: Actor, lesson_id: str, permission_id: int, now: datetime
) -> Permission:
    """Withdraw one permission in force for the lesson."""
    lesson = _open_lesson(session, actor=actor, lesson_id=lesson_id, now=now)
    permission = session.get(Permission, permission_id)
    if permission is None or permission.lesson_id != lesson.id:
        raise NotFound("no such permission for this lesson")
    if permission.withdrawn_at is not None:
        raise Conflict("this permission was withdrawn already")
    permission.withdrawn_at = now
    audit.record(
        session,
        actor=actor,
        school_id=lesson.school_id,
        action="permission.withdraw",
        obj=f"lesson:{lesson.id}",
        now=now,
    )
    return permission
