"""Staff accounts, their roles and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit, credentials
from service.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from service.models import ROLES, ApiToken, School, User

MIN_PASSWORD = 10


def add_user(
    session: Session, *, school: School, username: str, role: str, password: str, now: datetime
) -> User:
    username = username.strip()
    if not username or len(username) > 100 or not username.isprintable():
        raise InvalidRequest("username must be 1 to 100 printable characters")
    if role not in ROLES:
        raise InvalidRequest("role must be one of %(choices)s", choices=", ".join(ROLES))
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest("password must be at least %(limit)s characters", limit=MIN_PASSWORD)
    user = User(
        school_id=school.id,
        username=username,
        role=role,
        password_hash=credentials.hash_password(password),
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict("user %(name)r exists already", name=username) from None
    audit.record(
        session,
        actor="cli",
        school_id=school.id,
        action="user.add",
        obj=f"user:{username}",
        now=now,
    )
    return user


def by_username(session: Session, username: str, *, school: School) -> User:
    """The user of ``school`` with this name; a user of another school is not found."""
    user = session.scalar(
        select(User).where(User.username == username, User.school_id == school.id)
    )
    if user is None:
        raise NotFound("no user %(name)r in %(school)s", name=username, school=school.name)
    return user


def create_token(session: Session, *, user: User, now: datetime) -> str:
    token = credentials.new_user_token()
    session.add(ApiToken(user_id=user.id, token_hash=credentials.token_hash(token), created_at=now))
    audit.record(
        session,
        actor="cli",
        school_id=user.school_id,
        action="token.create",
        obj=f"user:{user.username}",
        now=now,
    )
    return token


def user_for_token(session: Session, token: str) -> User:
    """The active user behind an API token; Unauthorized for anything else."""
    if not token.startswith(credentials.USER_TOKEN_PREFIX):
        raise Unauthorized("a personal API token (lwu_...) is required")
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == credentials.token_hash(token))
    ).first()
    if row is None or row[0].revoked_at is not None or row[1].disabled:
        raise Unauthorized("unknown or revoked API token")
    return row[1]


def revoke_tokens(session: Session, *, user: User, now: datetime) -> int:
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = now
    audit.record(
        session,
        actor="cli",
        school_id=user.school_id,
        action="token.revoke",
        obj=f"user:{user.username}",
        now=now,
    )
    return len(tokens)
