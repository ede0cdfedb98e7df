"""Staff accounts, their roles and personal API tokens: each operation once, for every surface.

Every operation takes the actor (an admin signed in to the pages, or the operator at the
command line acting for one school), checks that it may administer, stays inside the actor's
school, and writes one audit entry naming the actor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import access, audit, credentials
from service.access import Ability
from service.actors import Actor
from service.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from service.models import ROLES, ApiToken, School, User, WebSession

MIN_PASSWORD = 10


def add_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    role: str,
    password: str,
    email: str = "",
    now: datetime,
) -> User:
    access.require(actor, Ability.ADMINISTER)
    username = username.strip()
    if not username or len(username) > 100 or not username.isprintable():
        raise InvalidRequest("username must be 1 to 100 printable characters")
    if role not in ROLES:
        raise InvalidRequest("role must be one of %(choices)s", choices=", ".join(ROLES))
    email = email.strip().lower()
    if email and ("@" not in email or len(email) > 200 or not email.isprintable()):
        raise InvalidRequest("the e-mail address is not valid")
    # An account with an e-mail address may sign in with the school's SSO only (the provider
    # vouches for the address): it needs no password, and then has none that could match.
    if not password and not email:
        raise InvalidRequest("an account without a password needs an e-mail address for SSO")
    if password and len(password) < MIN_PASSWORD:
        raise InvalidRequest("password must be at least %(limit)s characters", limit=MIN_PASSWORD)
    user = User(
        school_id=actor.school_id,
        username=username,
        role=role,
        password_hash=credentials.hash_password(password) if password else credentials.NO_PASSWORD,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict("user %(name)r exists already", name=username) from None
    if email:
        try:
            with session.begin_nested():
                user.email = email
        except IntegrityError:
            raise Conflict("another user has this e-mail address") from None
    audit.record(
        session,
        actor=actor,
        school_id=actor.school_id,
        action="user.add",
        obj=f"user:{username}",
        now=now,
    )
    return user


def school_user(session: Session, *, actor: Actor, user_id: str) -> User:
    """A user of the actor's school by id, for an admin; another school's is not found."""
    access.require(actor, Ability.ADMINISTER)
    user = session.get(User, int(user_id)) if user_id.isdigit() and len(user_id) < 12 else None
    if user is None or user.school_id != actor.school_id:
        raise NotFound("no such user")
    return user


def set_disabled(
    session: Session, *, actor: Actor, user: User, disabled: bool, now: datetime
) -> User:
    """Disable (and sign out everywhere) or enable a user; nobody disables their own account."""
    access.require(actor, Ability.ADMINISTER)
    access.require_same_school(actor, user.school_id, NotFound("no such user"))
    if user.id == actor.user_id:
        raise InvalidRequest("you cannot disable your own account")
    user.disabled = disabled
    if disabled:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit.record(
        session,
        actor=actor,
        school_id=user.school_id,
        action="user.disable" if disabled else "user.enable",
        obj=f"user:{user.username}",
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


def create_token(session: Session, *, actor: Actor, user: User, now: datetime) -> str:
    access.require(actor, Ability.ADMINISTER)
    access.require_same_school(actor, user.school_id, NotFound("no such user"))
    token = credentials.new_user_token()
    session.add(ApiToken(user_id=user.id, token_hash=credentials.token_hash(token), created_at=now))
    audit.record(
        session,
        actor=actor,
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


def revoke_tokens(session: Session, *, actor: Actor, user: User, now: datetime) -> int:
    access.require(actor, Ability.ADMINISTER)
    access.require_same_school(actor, user.school_id, NotFound("no such user"))
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = now
    audit.record(
        session,
        actor=actor,
        school_id=user.school_id,
        action="token.revoke",
        obj=f"user:{user.username}",
        now=now,
    )
    return len(tokens)
