"""The policy page (the effective policy in words for staff; the override with a preview of its
changes for admins) and the admin pages for the school's retention (of device-level data and of the
audit log) and disclosure settings; the changes themselves are the operations of
``service.schools.settings``.

The override is validated by the policies engine before it is previewed and again when it is
stored; when it does not validate, nothing is saved and the PolicyError's line and problem go
back to the form. The description and the differences are ``policies.describe``'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from policies import PolicyError
from policies.describe import describe, differences
from policies.model import Lang
from service import access as service_access
from service.access import Ability
from service.actors import Actor
from service.models import School, User
from service.retention import purge
from service.schools import policy as school_policy
from service.schools import settings
from service.schools.settings import DISCLOSURES, MAX_OVERRIDE
from service.web import access


def _school(session: Session, viewer: User) -> School:
    access.require_role(viewer, access.ADMIN)
    return session.get_one(School, viewer.school_id)


def _policy_page(
    school: School,
    actor: Actor,
    lang: Lang,
    *,
    text: str | None = None,
    error: dict[str, Any] | None = None,
    preview: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "policy": describe(school_policy.for_school(school).policy, lang),
        "may_change": service_access.may(actor, Ability.ADMINISTER),
        "has_override": bool(school.policy_override),
        "text": (school.policy_override or "") if text is None else text,
        "error": error,
        "preview": preview,
    }


def policy_page(session: Session, *, viewer: User, lang: Lang) -> dict[str, Any]:
    """The school's effective policy in words, for staff; for admins with the override form."""
    actor = Actor.of_user(viewer)
    service_access.require(actor, Ability.STAFF_PAGES)
    return _policy_page(session.get_one(School, viewer.school_id), actor, lang)


def override_page(session: Session, *, viewer: User, lang: Lang) -> dict[str, Any]:
    """The same page at the admin's address; only admins open it."""
    school = _school(session, viewer)
    return _policy_page(school, Actor.of_user(viewer), lang)


def _too_long(text: str) -> dict[str, Any] | None:
    if len(text) <= MAX_OVERRIDE:
        return None
    return {"line": None, "problem": f"the override may be at most {MAX_OVERRIDE} characters"}


def preview_policy(session: Session, *, viewer: User, text: str, lang: Lang) -> dict[str, Any]:
    """What the override would change, in words; nothing is saved. ``error`` holds
    ``{line, problem}`` when the override does not validate."""
    school = _school(session, viewer)
    actor = Actor.of_user(viewer)
    text = text.replace("\r\n", "\n")
    if (too_long := _too_long(text)) is not None:
        return _policy_page(school, actor, lang, text=text[:MAX_OVERRIDE], error=too_long)
    try:
        after = school_policy.proposed(school, text).policy
    except PolicyError as invalid:
        problem = {"line": invalid.line, "problem": invalid.problem}
        return _policy_page(school, actor, lang, text=text, error=problem)
    before = school_policy.for_school(school).policy
    changes = differences(before, after, lang)
    return _policy_page(school, actor, lang, text=text, preview=changes)


def save_policy(
    session: Session, *, viewer: User, text: str, now: datetime, lang: Lang
) -> dict[str, Any]:
    """The page after saving: ``error`` holds ``{line, problem}`` when nothing was saved."""
    school = _school(session, viewer)
    actor = Actor.of_user(viewer)
    if (too_long := _too_long(text)) is not None:
        return _policy_page(school, actor, lang, text=text[:MAX_OVERRIDE], error=too_long)
    text = text.replace("\r\n", "\n")
    try:
        settings.save_policy_override(session, actor=actor, text=text, now=now)
    except PolicyError as invalid:
        problem = {"line": invalid.line, "problem": invalid.problem}
        return _policy_page(school, actor, lang, text=text, error=problem)
    return _policy_page(school, actor, lang, text=text)


def school_page(session: Session, *, viewer: User) -> dict[str, Any]:
    school = _school(session, viewer)
    return {
        "name": school.name,
        "timezone": school.timezone,
        "retention_days": school.retention_days,
        "audit_retention_days": school.audit_retention_days,
        "audit_retention_bounds": [purge.AUDIT_DAYS_MIN, purge.AUDIT_DAYS_MAX],
        "disclosure": school.disclosure,
        "admin_disclosure": school.admin_disclosure,
        "small_count_threshold": school.small_count_threshold,
        "attention_threshold": school.attention_threshold,
        "disclosures": list(DISCLOSURES),
    }


def save_school(
    session: Session,
    *,
    viewer: User,
    retention_days: int,
    audit_retention_days: int,
    disclosure: str,
    admin_disclosure: str,
    threshold: int,
    now: datetime,
    attention_threshold: int | None = None,
) -> None:
    changes = settings.Changes(
        retention_days=retention_days,
        audit_retention_days=audit_retention_days,
        disclosure=disclosure,
        admin_disclosure=admin_disclosure,
        small_count_threshold=threshold,
        attention_threshold=attention_threshold,
    )
    settings.change(session, actor=Actor.of_user(viewer), changes=changes, now=now)
