"""A device's data-subject access request (an export of everything stored about it) and its
erasure: the one operation of each, behind ``/admin/devices`` and ``lessonwatch-service devices
export`` / ``devices erase``. Both are for whoever may manage the device's school's devices
(``service.access``), and both are audited.

Erasure deletes the device's summaries, its token and its identity (the devices row). Frozen
per-lesson totals and report numbers that no longer identify it stay; the audit log keeps its
lines, which name the device only by its pseudonymous id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from policies.localtime import iso
from service import audit
from service.actors import Actor
from service.devices.registry import school_device
from service.devices.seen import seen_day, zone
from service.models import AuditEntry, DeviceLessonSummary, Group, School
from service.reports import totals as lesson_totals

NOT_INCLUDED = "the device token is stored only as a hash and cannot be exported"


def export_device(
    session: Session, *, actor: Actor, device_id: str, now: datetime
) -> dict[str, Any]:
    """Everything stored about the device, as JSON-ready data; the export itself is audited."""
    device = school_device(session, actor=actor, device_id=device_id)
    group = session.get_one(Group, device.group_id)
    school = session.get_one(School, device.school_id)
    tz = zone(school.timezone)
    last_seen = seen_day(device.last_seen, tz)
    summaries = session.scalars(
        select(DeviceLessonSummary)
        .where(DeviceLessonSummary.device_id == device.id)
        .order_by(DeviceLessonSummary.started_at, DeviceLessonSummary.id)
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
        actor=actor,
        school_id=device.school_id,
        action="device.export",
        obj=named,
        now=now,
    )
    # A person reads this export (a data-access request): times are the school's local time
    # with their offset ("2026-12-07T05:24:00+01:00"), exact and still ISO 8601.
    return {
        "timezone": school.timezone,
        "exported_at": iso(now, tz),
        "device": {
            "id": device.id,
            "group": group.name,
            "label": device.label,
            "platform": device.platform,
            "agent_version": device.agent_version,
            "fingerprint": device.fingerprint,
            "enrolled_at": iso(device.enrolled_at, tz),
            "last_seen": last_seen.isoformat() if last_seen else None,
            "retired": device.retired,
        },
        "summaries": [
            {
                "lesson_id": s.lesson_id,
                "received_at": iso(s.received_at, tz),
                "summary": s.summary,
            }
            for s in summaries
        ],
        "audit": [
            {
                "at": iso(e.at, tz),
                "actor": e.actor,
                "action": e.action,
                "object": e.object,
                "reason": e.reason,
            }
            for e in entries
        ],
        "not_included": NOT_INCLUDED,
    }


def erase_device(session: Session, *, actor: Actor, device_id: str, now: datetime) -> int:
    """Delete the device and its summaries; how many summaries were deleted."""
    device = school_device(session, actor=actor, device_id=device_id)
    lesson_totals.forget_device(session, device.id)
    result = session.execute(
        delete(DeviceLessonSummary).where(DeviceLessonSummary.device_id == device.id),
        execution_options={"synchronize_session": False},
    )
    session.delete(device)
    audit.record(
        session,
        actor=actor,
        school_id=device.school_id,
        action="device.erase",
        obj=f"device:{device.id}",
        now=now,
    )
    return int(getattr(result, "rowcount", 0) or 0)
