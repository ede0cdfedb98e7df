"""Enrolled devices: token lookup, listing for IT (with cloned-image duplicates), retiring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from policies.wire import format_time
from service import audit, credentials
from service.errors import NotFound, Unauthorized
from service.models import Device, Group, School

# last_seen is for IT's overview, not for correctness: writing it once a minute is enough.
LAST_SEEN_STEP = timedelta(seconds=60)


def device_for_token(session: Session, token: str) -> Device:
    """The active device behind a device token; Unauthorized for anything else."""
    if not token.startswith(credentials.DEVICE_TOKEN_PREFIX):
        raise Unauthorized("a device token (lwd_...) is required")
    device = session.scalar(
        select(Device).where(Device.token_hash == credentials.token_hash(token))
    )
    if device is None or device.retired:
        raise Unauthorized("unknown or revoked device token; enrol again")
    return device


def touch(session: Session, device: Device, now: datetime) -> None:
    if device.last_seen is None or now - device.last_seen >= LAST_SEEN_STEP:
        session.execute(update(Device).where(Device.id == device.id).values(last_seen=now))


@dataclass(frozen=True)
class DeviceRow:
    device: Device
    group: str
    duplicate: bool

    def to_json(self) -> dict[str, Any]:
        d = self.device
        return {
            "id": d.id,
            "group": self.group,
            "label": d.label,
            "platform": d.platform,
            "agent_version": d.agent_version,
            "fingerprint": d.fingerprint,
            "enrolled_at": format_time(d.enrolled_at),
            "last_seen": format_time(d.last_seen) if d.last_seen else None,
            "retired": d.retired,
            "duplicate": self.duplicate,
        }


def fingerprint_duplicates(session: Session, school: School) -> set[str]:
    """Fingerprints shared by more than one active device: cloned images IT should look at."""
    query = (
        select(Device.fingerprint)
        .where(Device.school_id == school.id, Device.retired.is_(False))
        .where(Device.fingerprint.is_not(None))
        .group_by(Device.fingerprint)
        .having(func.count() > 1)
    )
    return {fp for fp in session.scalars(query) if fp}


def list_devices(
    session: Session, *, school: School, duplicates_only: bool = False
) -> list[DeviceRow]:
    dupes = fingerprint_duplicates(session, school)
    query = (
        select(Device, Group.name)
        .join(Group, Group.id == Device.group_id)
        .where(Device.school_id == school.id)
        .order_by(Group.name, Device.fingerprint, Device.enrolled_at, Device.id)
    )
    rows = [
        DeviceRow(d, g, not d.retired and d.fingerprint in dupes) for d, g in session.execute(query)
    ]
    return [r for r in rows if r.duplicate] if duplicates_only else rows


def retire(session: Session, *, device_id: str, now: datetime) -> None:
    """Revoke a device's token; its summaries stay until retention removes them."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id[:40]!r}")
    device.retired = True
    audit.record(session, actor="cli", action="device.retire", obj=f"device:{device_id}", now=now)
