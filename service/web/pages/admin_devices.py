"""Admin pages for devices and enrolment codes: list, move to a group, label, codes. Retiring,
exporting and erasing a device are operations of ``service.devices`` the routes call directly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit
from service.access import Ability
from service.actors import Actor
from service.devices import enrolment
from service.devices import registry as devices
from service.errors import InvalidRequest
from service.models import Device, Group, School, User
from service.schools import registry as schools
from service.web import access

MAX_LABEL = 64


def _school(session: Session, viewer: User) -> School:
    access.require_role(viewer, access.ADMIN)
    return session.get_one(School, viewer.school_id)


def devices_page(session: Session, *, viewer: User) -> dict[str, Any]:
    school = _school(session, viewer)
    groups = session.scalars(
        select(Group.name).where(Group.school_id == school.id).order_by(Group.name)
    ).all()
    return {
        "devices": [r.to_json() for r in devices.list_devices(session, school=school)],
        "groups": list(groups),
    }


def school_device(session: Session, *, viewer: User, device_id: str) -> Device:
    return devices.school_device(session, actor=Actor.of_user(viewer), device_id=device_id)


def update_device(
    session: Session, *, viewer: User, device_id: str, group: str, label: str, now: datetime
) -> None:
    device = school_device(session, viewer=viewer, device_id=device_id)
    label = label.strip()
    if len(label) > MAX_LABEL or not label.isprintable():
        raise InvalidRequest("a label is at most %(limit)s printable characters", limit=MAX_LABEL)
    school = session.get_one(School, device.school_id)
    found = schools.find_group(session, school, group.strip())
    if found is None:
        raise InvalidRequest("choose an existing group")
    device.group_id = found.id
    device.label = label or None
    audit.record(
        session,
        actor=Actor.of_user(viewer),
        school_id=device.school_id,
        action="device.update",
        obj=f"device:{device.id}",
        now=now,
    )


def codes_page(session: Session, *, viewer: User, now: datetime) -> dict[str, Any]:
    school = session.get_one(School, viewer.school_id)  # list_codes checks the ability
    rows = enrolment.list_codes(session, actor=Actor.of_user(viewer))
    groups = session.scalars(
        select(Group.name).where(Group.school_id == school.id).order_by(Group.name)
    ).all()
    return {
        "codes": [
            {
                "id": code.id,
                "group": code.group,
                "uses_left": code.uses_left,
                "devices": code.devices,
                "active_devices": code.active_devices,
                "created_at": code.created_at.isoformat(),
                "expires_at": code.expires_at.isoformat(),
                "revoked": code.revoked_at is not None,
                "active": code.active(now),
            }
            for code in rows
        ],
        "groups": list(groups),
    }


def create_code(
    session: Session, *, viewer: User, group: str, uses: int, days: int, now: datetime
) -> str:
    access.require_role(viewer, Ability.ENROL_DEVICES)
    school = session.get_one(School, viewer.school_id)
    if schools.find_group(session, school, group.strip()) is None:
        raise InvalidRequest("choose an existing group")
    return enrolment.create_code(
        session,
        actor=Actor.of_user(viewer),
        group=group.strip(),
        uses=uses,
        lifetime=timedelta(days=days),
        now=now,
    )
