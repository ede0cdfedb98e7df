"""Password sign-in, slowed per (name, address) pair instead of locking the account.

A lock-out per account let anyone lock a teacher out with five wrong passwords, and told which
names exist (only real accounts got locked). Instead the failures of one typed name from one
address spend a bucket of ``lockout_failures`` tries that refills over ``lockout_minutes``
(``SignInThrottle``); the real user, from another address, is not affected. The throttle is
keyed on the name as typed, so unknown and known names are slowed alike, and unknown names
cost one password check against a dummy hash, so the answer and its time do not tell which
accounts exist (issue 14). Failures and sign-ins are audited.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import audit, credentials
from service.errors import RateLimited
from service.locale import N_
from service.models import User
from service.ratelimit import Limiter
from service.web.settings import WebSettings

MAX_USERNAME = 100
MAX_PASSWORD = 1000
# Why a sign-in was refused, as msgids the sign-in page translates.
WRONG = N_("Wrong username or password.")
DEMO_ONLY = N_("Demo accounts only work in demo mode.")


_dummy_lock = threading.Lock()


@functools.cache
def _dummy_hash_once() -> str:
    return credentials.hash_password("not a password anyone has; it equalises timing")


def _dummy_hash() -> str:
    # One hash, made by the first sign-in under an unknown name: without the lock a flood of
    # them would each make one, outside the bounded verifier (issue 14).
    with _dummy_lock:
        return _dummy_hash_once()


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    problem: str | None  # a message id: WRONG or DEMO_ONLY


class SignInThrottle:
    """Failed sign-ins per (typed name, address): ``lockout_failures`` at once, then one more
    each ``lockout_minutes / lockout_failures``. Kept in memory like the other rate limits."""

    def __init__(self, settings: WebSettings) -> None:
        self._failures = Limiter(
            per_minute=settings.lockout_failures / settings.lockout_minutes,
            burst=settings.lockout_failures,
        )

    @staticmethod
    def _key(username: str, address: str) -> str:
        return f"{address}\0{username.strip().casefold()[:MAX_USERNAME]}"

    def check(self, username: str, address: str, *, now: datetime) -> None:
        wait = self._failures.waiting(self._key(username, address), now.timestamp())
        if wait:
            raise RateLimited(
                "too many failed sign-ins for this name from this address; wait and try again",
                retry_after=wait,
            )

    def failed(self, username: str, address: str, *, now: datetime) -> None:
        self._failures.check(self._key(username, address), now.timestamp())


@dataclass(frozen=True)
class Checked:
    """What the slow password check found: the name as typed, and the hash it matched."""

    username: str
    matched_hash: str | None


def check_password(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    address: str,
    now: datetime,
    throttle: SignInThrottle,
    verifier: credentials.Verifier,
) -> Checked:
    """Gather for ``password_sign_in``: the stored hash in a short read of its own, then the
    argon2 check outside any transaction, so a sign-in never holds a database connection or
    lock while it hashes (issue 14). Raises ``RateLimited`` while the (name, address) pair is
    slowed down, for unknown and known names alike; unknown names are checked against a dummy
    hash, so both cost one check."""
    username = username.strip()
    throttle.check(username, address, now=now)
    if not username or len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        throttle.failed(username, address, now=now)
        return Checked(username, None)
    with sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == username))
    # An SSO-only account has no password: checked against the dummy hash like an unknown name,
    # so the time taken does not tell which accounts have one.
    if stored == credentials.NO_PASSWORD:
        stored = None
    if verifier.verify(stored or _dummy_hash(), password) and stored is not None:
        return Checked(username, stored)
    throttle.failed(username, address, now=now)
    return Checked(username, None)


def password_sign_in(
    session: Session, *, checked: Checked, now: datetime, settings: WebSettings
) -> SignInResult:
    """Sign in with a password ``check_password`` has checked; failures and sign-ins audited."""
    user = session.scalar(select(User).where(User.username == checked.username))
    if user is None:
        return SignInResult(None, WRONG)
    actor = f"user:{user.username}"
    # The hash compared must still be the account's: a password changed meanwhile is not signed
    # in with the old one.
    if checked.matched_hash != user.password_hash or user.disabled:
        audit.record(
            session,
            actor=actor,
            school_id=user.school_id,
            action="signin.failed",
            obj=None,
            now=now,
        )
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
    audit.record(
        session, actor=actor, school_id=user.school_id, action="signin", obj="password", now=now
    )
    return SignInResult(user, None)
