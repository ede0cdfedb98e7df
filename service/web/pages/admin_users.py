"""Admin page for staff accounts and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.accounts import users
from service.errors import Conflict, InvalidRequest, NotFound
from service.models import ApiToken, School, User
from service.web import access, websessions


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
        "roles": ["admin", "leader", "teacher", "it"],
    }


def school_user(session: Session, *, viewer: User, user_id: str) -> User:
    access.require_role(viewer, access.ADMIN)
    user = session.get(User, int(user_id)) if user_id.isdigit() and len(user_id) < 12 else None
    if user is None or user.school_id != viewer.school_id:
        raise NotFound("no such user")
    return user


def add_user(
    session: Session,
    *,
    viewer: User,
    username: str,
    role: str,
    password: str,
    email: str,
    now: datetime,
) -> User:
    access.require_role(viewer, access.ADMIN)
    school = session.get_one(School, viewer.school_id)
    email = email.strip().lower()
    if email and ("@" not in email or len(email) > 200 or not email.isprintable()):
        raise InvalidRequest("the e-mail address is not valid")
    user = users.add_user(
        session, school=school, username=username, role=role, password=password, now=now
    )
    if email:
        try:
            with session.begin_nested():
                user.email = email
        except IntegrityError:
            raise Conflict("another user has this e-mail address") from None
    return user


def set_disabled(
    session: Session, *, viewer: User, user_id: str, disabled: bool, now: datetime
) -> User:
    user = school_user(session, viewer=viewer, user_id=user_id)
    if user.id == viewer.id:
        raise InvalidRequest("you cannot disable your own account")
    user.disabled = disabled
    if disabled:
        websessions.end_all_for(session, user)
    audit.record(
        session,
        actor=f"user:{viewer.username}",
        school_id=viewer.school_id,
        action="user.disable" if disabled else "user.enable",
        obj=f"user:{user.username}",
        now=now,
    )
    return user
