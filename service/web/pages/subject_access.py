"""A device's data-subject access request (export of everything stored about it) and its
erasure, for admins; both audited.

Erasure deletes the device's summaries, its token and its identity (the devices row). Frozen
per-lesson totals and report numbers that no longer identify it stay; the audit log keeps its
lines, which name the device only by its pseudonymous id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from policies.wire import format_time
from service import audit
from service.models import AuditEntry, DeviceLessonSummary, Group
from service.models import User as UserRow
from service.reports import totals as lesson_totals
from service.web.pages.admin_devices import school_device


def export_device(
    session: Session, *, viewer: UserRow, device_id: str, now: datetime
) -> dict[str, Any]:
    device = school_device(session, viewer=viewer, device_id=device_id)
    group = session.get_one(Group, device.group_id)
    summaries = session.scalars(
        select(DeviceLessonSummary)
        .where(DeviceLessonSummary.device_id == device.id)
        .order_by(DeviceLessonSummary.started_at)
    ).all()
    # Every line that names the device, as what was acted on or as the one acting (its
    # enrolment), and only in its own school's log.
    named = f"device:{device.id}"
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.school_id == device.school_id,
            or_(AuditEntry.object == named, AuditEntry.actor == named),
        )
        .order_by(AuditEntry.id)
    ).all()
    audit.record(
        session,
        actor=f"user:{viewer.username}",
        school_id=viewer.school_id,
        action="device.export",
        obj=f"device:{device.id}",
        now=now,
    )
    return {
        "exported_at": format_time(now),
        "device": {
            "id": device.id,
            "group": group.name,
            "label": device.label,
            "platform": device.platform,
            "agent_version": device.agent_version,
            "fingerprint": device.fingerprint,
            "enrolled_at": format_time(device.enrolled_at),
            "last_seen": format_time(device.last_seen) if device.last_seen else None,
            "retired": device.retired,
        },
        "summaries": [
            {
                "lesson_id": s.lesson_id,
                "received_at": format_time(s.received_at),
                "summary": s.summary,
            }
            for s in summaries
        ],
        "audit": [
            {
                "at": format_time(e.at),
                "actor": e.actor,
                "action": e.action,
                "object": e.object,
                "reason": e.reason,
            }
            for e in entries
        ],
        "not_included": "the device token is stored only as a hash and cannot be exported",
    }


def erase_device(session: Session, *, viewer: UserRow, device_id: str, now: datetime) -> int:
    device = school_device(session, viewer=viewer, device_id=device_id)
    lesson_totals.forget_device(session, device.id)
    result = session.execute(
        delete(DeviceLessonSummary).where(DeviceLessonSummary.device_id == device.id),
        execution_options={"synchronize_session": False},
    )
    session.delete(device)
    audit.record(
        session,
        actor=f"user:{viewer.username}",
        school_id=viewer.school_id,
        action="device.erase",
        obj=f"device:{device.id}",
        now=now,
    )
    return int(getattr(result, "rowcount", 0) or 0)
