"""The audit log: who did or viewed what, when, and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    obj: str | None,
    now: datetime,
    reason: str | None = None,
) -> None:
    session.add(AuditEntry(at=now, actor=actor, action=action, object=obj, reason=reason))


def entries(session: Session, *, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
