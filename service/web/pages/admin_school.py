"""Admin pages for the school's policy override and its retention (of device-level data and of
the audit log) and disclosure settings.

The override is validated by the policies engine before it is stored; when it does not
validate, nothing is saved and the PolicyError's line and problem go back to the form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import policies
from policies import PolicyError
from service import audit
from service.errors import InvalidRequest
from service.models import School, User
from service.retention import purge
from service.web import access

MAX_OVERRIDE = 200_000
DISCLOSURES = ("aggregate", "pseudonymous")


def _school(session: Session, viewer: User) -> School:
    access.require_role(viewer, access.ADMIN)
    return session.get_one(School, viewer.school_id)


def policy_page(session: Session, *, viewer: User) -> dict[str, Any]:
    school = _school(session, viewer)
    return {"text": school.policy_override or "", "error": None}


def check_override(text: str) -> PolicyError | None:
    try:
        policies.effective_document([("school.toml", text)])
    except PolicyError as exc:
        return exc
    return None


def save_policy(session: Session, *, viewer: User, text: str, now: datetime) -> dict[str, Any]:
    """The page after saving: ``error`` holds ``{line, problem}`` when nothing was saved."""
    school = _school(session, viewer)
    if len(text) > MAX_OVERRIDE:
        return {
            "text": text[:MAX_OVERRIDE],
            "error": {
                "line": None,
                "problem": f"the override may be at most {MAX_OVERRIDE} characters",
            },
        }
    text = text.replace("\r\n", "\n")
    error = check_override(text) if text.strip() else None
    if error is not None:
        return {"text": text, "error": {"line": error.line, "problem": error.problem}}
    school.policy_override = text if text.strip() else None
    audit.record(
        session,
        actor=f"user:{viewer.username}",
        school_id=viewer.school_id,
        action="policy.save",
        obj=f"school:{school.id}",
        now=now,
    )
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
) -> None:
    school = _school(session, viewer)
    if disclosure not in DISCLOSURES or admin_disclosure not in DISCLOSURES:
        raise InvalidRequest("disclosure must be aggregate or pseudonymous")
    school.retention_days = retention_days
    school.audit_retention_days = purge.check_audit_days(audit_retention_days)
    school.disclosure = disclosure
    school.admin_disclosure = admin_disclosure
    school.small_count_threshold = threshold
    audit.record(
        session,
        actor=f"user:{viewer.username}",
        school_id=viewer.school_id,
        action="school.settings",
        obj=f"school:{school.id}",
        now=now,
    )
