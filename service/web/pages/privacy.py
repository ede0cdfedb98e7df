"""The public page "what lessonwatch checks", built from the school's active policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.explain import explain_data, t
from policies.model import Lang
from service.lessons import permissions
from service.models import School

_HEADINGS = (
    "rules",
    "off",
    "group_chat",
    "permission",
    "no_permission",
    "checks",
    "apps",
    "timing",
    "contact",
    "leaves",
    "browser",
    "browser_checked",
    "browser_never",
)


def privacy_page(
    session: Session, *, school_name: str | None, lang: Lang, viewer_school: int | None = None
) -> dict[str, Any]:
    """The explanation for the named school, else the signed-in viewer's own, else the first;
    the shipped policy without one."""
    query = select(School).order_by(School.id).limit(1)
    if school_name:
        query = select(School).where(School.name == school_name[:200])
    elif viewer_school is not None:
        query = select(School).where(School.id == viewer_school)
    school = session.scalar(query)
    if school is None:
        school = School(id=0, name="", policy_override=None)
    data = explain_data(permissions.school_policy(school), lang)
    headings = {key: t(key, lang) for key in _HEADINGS}
    return {**data, "school": school.name or None, "headings": headings}
