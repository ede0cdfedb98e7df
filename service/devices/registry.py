"""Enrolled devices: token lookup, listing for IT (with cloned-image duplicates), retiring: the
one operation behind ``/admin/devices`` and ``lessonwatch-service devices retire``."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from policies.wire import format_time
from service import access, audit, credentials
from service.access import Ability
from service.actors import Actor
from service.devices.seen import day_start, seen_day, zone
from service.errors import Conflict, NotFound, Unauthorized
from service.locale import N_
from service.models import Device, Group, School
from service.reports.lesson_report import shared_fingerprints

REVOKED = N_("unknown or revoked device token; enrol again")


@dataclass(frozen=True)
class ActiveDevice:
    """What a report needs of the device that sent it, read when its token was checked."""

    id: str
    school_id: int
    group_id: int


def token_key(token: str) -> str:
    """The stored form of a device token (its hash); Unauthorized for a token of another kind."""
    if not token.startswith(credentials.DEVICE_TOKEN_PREFIX):
        raise Unauthorized("a device token (lwd_...) is required")
    return credentials.token_hash(token)


def device_for_token(session: Session, token: str) -> Device:
    """The active device behind a device token; Unauthorized for anything else."""
    device = session.scalar(select(Device).where(Device.token_hash == token_key(token)))
    if device is None or device.retired:
        raise Unauthorized(REVOKED)
    return device


def touch_due(last_seen: datetime | None, now: datetime, timezone: str | None) -> bool:
    """Whether last_seen must be written: only on the first contact of a school-local day
    (issue 15: the collector keeps the day a device was seen, not the time)."""
    return last_seen != day_start(now, zone(timezone))


def touch(session: Session, device: Device, now: datetime) -> None:
    timezone = session.get_one(School, device.school_id).timezone
    if touch_due(device.last_seen, now, timezone):
        _write_last_seen(session, {timezone: [device.id]}, now)


def active_devices(
    session: Session, keys: Collection[str], now: datetime
) -> dict[str, ActiveDevice]:
    """The active devices behind these token hashes, by hash (unknown and retired ones are left
    out), in one query; last_seen is written for those not seen yet this school day."""
    rows = session.execute(
        select(
            Device.token_hash,
            Device.id,
            Device.school_id,
            Device.group_id,
            Device.last_seen,
            School.timezone,
        )
        .join(School, School.id == Device.school_id)
        .where(Device.token_hash.in_(keys), Device.retired.is_(False))
    ).all()
    due: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: r.id):
        if touch_due(r.last_seen, now, r.timezone):
            due.setdefault(r.timezone, []).append(r.id)
    _write_last_seen(session, due, now)
    return {r.token_hash: ActiveDevice(r.id, r.school_id, r.group_id) for r in rows}


def _write_last_seen(session: Session, by_zone: dict[str, list[str]], now: datetime) -> None:
    # On the connection, not through the ORM: bookkeeping that must not read as a change to the
    # device (service.token_cache forgets devices changed through a session). Zones by name and
    # ids in order: concurrent look-ups take the rows' locks in one order and cannot deadlock.
    table = cast(Table, Device.__table__)
    for timezone, device_ids in sorted(by_zone.items()):
        session.connection().execute(
            update(table)
            .where(table.c.id.in_(device_ids))
            .values(last_seen=day_start(now, zone(timezone)))
        )


@dataclass(frozen=True)
class DeviceRow:
    device: Device
    group: str
    duplicate: bool
    last_seen: date | None  # the school-local day: the collector keeps no time of day

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
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "retired": d.retired,
            "duplicate": self.duplicate,
        }


def fingerprint_duplicates(session: Session, school: School) -> set[str]:
    """Fingerprints shared by more than one active device: cloned images IT should look at (the
    reports count none of these devices)."""
    return shared_fingerprints(session, [school.id])


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
    tz = zone(school.timezone)
    rows = [
        DeviceRow(d, g, not d.retired and d.fingerprint in dupes, seen_day(d.last_seen, tz))
        for d, g in session.execute(query)
    ]
    return [r for r in rows if r.duplicate] if duplicates_only else rows


def school_device(session: Session, *, actor: Actor, device_id: str) -> Device:
    """A device the actor may manage: admins (and the operator) of the device's own school.
    A device of another school is NotFound, as if it did not exist."""
    access.require(actor, Ability.MANAGE_DEVICES)
    device = session.get(Device, device_id[:40])
    missing = NotFound("no device %(id)r", id=device_id[:40])
    if device is None:
        raise missing
    access.require_same_school(actor, device.school_id, missing)
    return device


def retire(session: Session, *, actor: Actor, device_id: str, now: datetime) -> Device:
    """Revoke a device's token; its summaries stay until retention removes them."""
    device = school_device(session, actor=actor, device_id=device_id)
    if device.retired:
        raise Conflict("this device is retired already")
    device.retired = True
    audit.record(
        session,
        actor=actor,
        school_id=device.school_id,
        action="device.retire",
        obj=f"device:{device.id}",
        now=now,
    )
    return device
