"""Granting and withdrawing a permission for one lesson from the web pages.

The categories offered are those of the school's effective policy whose rules are on, apply to
devices in lessons and may be lifted by a permission. A permission may be granted or withdrawn
until the lesson ends; the agent config (``service.agent_config``) carries both at the next poll.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import policies
from policies.model import Lang, Policy
from service import audit
from service.errors import Conflict, InvalidRequest, NotFound
from service.lessons import records as lessons
from service.models import Lesson, Permission, School, User
from service.reports.lesson_report import check_access
from service.schools import policy as policy_cache

MAX_NOTE = 500
_DEVICE_SCOPES = {"lesson", "remote_lesson"}


def school_policy(school: School) -> Policy:
    return _policy(school.id, school.policy_override)


@functools.lru_cache(maxsize=16)
def _policy(school_id: int, override: str | None) -> Policy:
    # Keyed like policy_cache: the policy is a pure function of the override text.
    school = School(id=school_id, policy_override=override)
    return policies.policy_from_document(policy_cache.for_school(school).document)


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


def _open_lesson(session: Session, lesson_id: str, viewer: User, now: datetime) -> Lesson:
    lesson = lessons.get_lesson(session, lesson_id).lesson
    check_access(viewer, lesson)
    if lesson.cancelled:
        raise Conflict("this lesson is cancelled")
    if now >= lesson.end:
        raise Conflict("this lesson is over; permissions can only change before or during it")
    return lesson


def grant(
    session: Session,
    *,
    lesson_id: str,
    viewer: User,
    categories: Sequence[str],
    note: str | None,
    now: datetime,
) -> Permission:
    lesson = _open_lesson(session, lesson_id, viewer, now)
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
    return lessons.grant_permission(
        session,
        lesson=lesson,
        categories=categories,
        now=now,
        granted_by=viewer,
        note=clean_note(note),
    )


def withdraw(
    session: Session, *, lesson_id: str, permission_id: int, viewer: User, now: datetime
) -> Permission:
    lesson = _open_lesson(session, lesson_id, viewer, now)
    permission = session.get(Permission, permission_id)
    if permission is None or permission.lesson_id != lesson.id:
        raise NotFound("no such permission for this lesson")
    if permission.withdrawn_at is not None:
        raise Conflict("this permission was withdrawn already")
    permission.withdrawn_at = now
    audit.record(
        session,
        actor=f"user:{viewer.username}",
        school_id=viewer.school_id,
        action="permission.withdraw",
        obj=f"lesson:{lesson.id}",
        now=now,
    )
    return permission
