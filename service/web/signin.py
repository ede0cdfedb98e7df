"""Password sign-in with a per-account lock-out, decided from the rows and ``now``.

After ``lockout_failures`` failed attempts within ``lockout_minutes`` the account is locked
until the window has passed since the last failure, whatever password is tried; every failure,
lock and sign-in is audited. Unknown usernames cost an argon2 verification too, so the answer
time does not tell which accounts exist.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service import audit, credentials
from service.locale import N_
from service.models import SignInFailure, User
from service.web.settings import WebSettings

MAX_USERNAME = 100
MAX_PASSWORD = 1000
# Why a sign-in was refused, as msgids the sign-in page translates.
WRONG = N_("Wrong username or password.")
LOCKED = N_("This account is locked for a while after too many failed attempts. Try again later.")
DEMO_ONLY = N_("Demo accounts only work in demo mode.")


@functools.cache
def _dummy_hash() -> str:
    return credentials.hash_password("not a password anyone has; it equalises timing")


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    problem: str | None  # a message id: WRONG, LOCKED or DEMO_ONLY


def _failures(session: Session, user: User, since: datetime) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(), func.max(SignInFailure.at)).where(
            SignInFailure.user_id == user.id, SignInFailure.at > since
        )
    ).one()
    return int(count), last


def is_locked(failures: int, last: datetime | None, *, now: datetime, s: WebSettings) -> bool:
    window = timedelta(minutes=s.lockout_minutes)
    return failures >= s.lockout_failures and last is not None and now - last < window


def password_sign_in(
    session: Session, *, username: str, password: str, now: datetime, settings: WebSettings
) -> SignInResult:
    username = username.strip()
    if not username or len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        return SignInResult(None, WRONG)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        credentials.verify_password(_dummy_hash(), password)
        return SignInResult(None, WRONG)
    actor = f"user:{user.username}"
    count, last = _failures(session, user, now - timedelta(minutes=settings.lockout_minutes))
    if is_locked(count, last, now=now, s=settings):
        audit.record(
            session,
            actor=actor,
            school_id=user.school_id,
            action="signin.refused_locked",
            obj=None,
            now=now,
        )
        return SignInResult(None, LOCKED)
    if not credentials.verify_password(user.password_hash, password) or user.disabled:
        session.add(SignInFailure(user_id=user.id, at=now))
        audit.record(
            session,
            actor=actor,
            school_id=user.school_id,
            action="signin.failed",
            obj=None,
            now=now,
        )
        if count + 1 >= settings.lockout_failures:
            audit.record(
                session,
                actor=actor,
                school_id=user.school_id,
                action="signin.locked",
                obj=None,
                now=now,
            )
            return SignInResult(None, LOCKED)
        return SignInResult(None, WRONG)
    if user.demo and not settings.demo:
        audit.record(
            session,
            actor=actor,
            school_id=user.school_id,
            action="signin.refused_demo",
            obj=None,
            now=now,
        )
        return SignInResult(None, DEMO_ONLY)
    session.execute(delete(SignInFailure).where(SignInFailure.user_id == user.id))
    audit.record(
        session, actor=actor, school_id=user.school_id, action="signin", obj="password", now=now
    )
    return SignInResult(user, None)
