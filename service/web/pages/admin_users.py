"""Admin page for staff accounts and their API tokens."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import ROLES, ApiToken, User
from service.web import access

DEFAULT_ROLE = "teacher"


def users_page(session: Session, *, viewer: User) -> dict[str, Any]:
    access.require_role(viewer, access.ADMIN)
    tokens = dict(
        session.execute(
            select(ApiToken.user_id, func.count())
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.revoked_at.is_(None), User.school_id == viewer.school_id)
            .group_by(ApiToken.user_id)
        ).all()
    )
    rows = session.scalars(
        select(User).where(User.school_id == viewer.school_id).order_by(User.username)
    ).all()
    return {
        "users": [
            {
                "id": u.id,
                "username": u.username,
                "role": u.role,
                "email": u.email,
                "lang": u.lang,
                "disabled": u.disabled,
                "demo": u.demo,
                "active_tokens": int(tokens.get(u.id, 0)),
            }
            for u in rows
        ],
        "roles": list(ROLES),
        # The least privileged role is chosen until the admin picks another: a slip in a hurry
        # then gives too little, never a second admin.
        "default_role": DEFAULT_ROLE,
    }
