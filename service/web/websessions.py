"""Server-side browser sessions: a random token in the cookie, its hash and the data here.

Every session, signed in or not, carries a CSRF synchronizer token: the sign-in form needs one
too. Signing in replaces the anonymous session with a new one, so a session id planted before
sign-in is worthless after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from service.models import User, WebSession

# The ids are hashes of 43-character tokens; anything else in a cookie is not ours.
MAX_TOKEN = 100


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session,
    *,
    user: User | None,
    now: datetime,
    minutes: int,
    data: dict[str, Any] | None = None,
) -> tuple[str, WebSession]:
    """A new session; returns the cookie token (never stored) and the row."""
    token = secrets.token_urlsafe(32)
    row = WebSession(
        id=_hash(token),
        user_id=user.id if user else None,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
        data=data or {},
    )
    session.add(row)
    session.flush()
    return token, row


def load(session: Session, token: str | None, *, now: datetime, minutes: int) -> WebSession | None:
    """The live session behind ``token``, its expiry moved on; None when unknown or expired."""
    if not token or len(token) > MAX_TOKEN:
        return None
    row = session.get(WebSession, _hash(token))
    if row is None:
        return None
    if row.expires_at <= now:
        session.delete(row)
        return None
    row.expires_at = now + timedelta(minutes=minutes)
    return row


def end(session: Session, row: WebSession) -> None:
    session.delete(row)


def end_all_for(session: Session, user: User) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def purge_expired(session: Session, *, now: datetime) -> None:
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))


def csrf_ok(row: WebSession | None, submitted: str | None) -> bool:
    if row is None or not submitted:
        return False
    return hmac.compare_digest(row.csrf.encode(), submitted.encode())


def set_data(row: WebSession, **values: Any) -> None:
    # A new dict, so SQLAlchemy sees the JSON column change.
    row.data = {**row.data, **values}


def pop_data(row: WebSession, key: str) -> Any:
    if key not in row.data:
        return None
    data = dict(row.data)
    value = data.pop(key)
    row.data = data
    return value
