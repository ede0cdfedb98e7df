"""Admin pages for the school's policy override, its retention (of device-level data and of the
audit log) and disclosure settings; the changes themselves are the operations of
``service.schools.settings``.

The override is validated by the policies engine before it is stored; when it does not
validate, nothing is saved and the PolicyError's line and problem go back to the form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from policies import PolicyError
from service.actors import Actor
from service.models import School, User
from service.retention import purge
from service.schools import settings
from service.schools.settings import DISCLOSURES, MAX_OVERRIDE
from service.web import access


def _school(session: Session, viewer: User) -> School:
    access.require_role(viewer, access.ADMIN)
    return session.get_one(School, viewer.school_id)


def policy_page(session: Session, *, viewer: User) -> dict[str, Any]:
    school = _school(session, viewer)
    return {"text": school.policy_override or "", "error": None}


def save_policy(session: Session, *, viewer: User, text: str, now: datetime) -> dict[str, Any]:
    """The page after saving: ``error`` holds ``{line, problem}`` when nothing was saved."""
    _school(session, viewer)
    if len(text) > MAX_OVERRIDE:
        return {
            "text": text[:MAX_OVERRIDE],
            "error": {
                "line": None,
                "problem": f"the override may be at most {MAX_OVERRIDE} characters",
            },
        }
    text = text.replace("\r\n", "\n")
    try:
        settings.save_policy_override(session, actor=Actor.of_user(viewer), text=text, now=now)
    except PolicyError as error:
        return {"text": text, "error": {"line": error.line, "problem": error.problem}}
    return {"text": text, "error": None}


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
