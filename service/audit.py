"""The audit log: who did or viewed what, when, and why; every entry belongs to one school."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.actors import Actor
from service.models import AuditEntry


def record(
    session: Session,
    *,
    actor: Actor | str,
    school_id: int | None,
    action: str,
    obj: str | None,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Add one entry. ``school_id`` is the school whose data was touched; ``None`` only for
    events that belong to no school yet (a sign-in attempt under a name nobody has)."""
    name = actor.audit_name if isinstance(actor, Actor) else actor
    session.add(
        AuditEntry(
            at=now, school_id=school_id, actor=name, action=action, object=obj, reason=reason
        )
    )


def entries(
    session: Session, *, school_id: int | None = None, action: str | None = None
) -> list[AuditEntry]:
    """Entries in order; of one school when ``school_id`` is given."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if school_id is not None:
        query = query.where(AuditEntry.school_id == school_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
