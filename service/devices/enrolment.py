"""Enrolment codes (created for one group), device enrolment with them, and what a leaked code
let in: the codes with their uses, revoking a code, retiring every device it enrolled.

A device about to enrol first asks for its school's fingerprint key with the same code
(``fingerprint_key``, issue 15) and sends HMAC-SHA256(key, machine id) as its fingerprint: a
machine id alone no longer gives the stored value, while clones of one image in one school
still send the same one. The collector treats the fingerprint as opaque either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from policies.wire import has_control_characters
from service import access, audit, credentials
from service.access import Ability
from service.actors import Actor
from service.devices.seen import day_start, zone
from service.errors import Conflict, EnrolmentCodeInvalid, InvalidRequest, NotFound
from service.models import Device, EnrolmentCode, Group, School
from service.schools import registry as schools

MAX_CODE_LIFETIME = timedelta(days=366)


@dataclass(frozen=True)
class Enrolled:
    device_id: str
    token: str
    group: str
    school: str


def create_code(
    session: Session,
    *,
    actor: Actor,
    group: str,
    uses: int,
    lifetime: timedelta,
    now: datetime,
) -> str:
    """A code enrolling up to ``uses`` devices into ``group`` (made if new) of one school."""
    access.require(actor, Ability.ENROL_DEVICES)
    school = session.get_one(School, actor.school_id)
    if not 1 <= uses <= 100_000:
        raise InvalidRequest("uses must be from 1 to 100000")
    if not timedelta(0) < lifetime <= MAX_CODE_LIFETIME:
        raise InvalidRequest("the code must expire within a year")
    code = credentials.new_enrolment_code()
    group_row = schools.group(session, school, group)
    session.add(
        EnrolmentCode(
            code_hash=credentials.code_hash(code),
            group_id=group_row.id,
            uses_left=uses,
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="enroll_code.create",
        obj=f"group:{group}",
        now=now,
    )
    return code


def refuse_control_characters(fields: dict[str, str | None]) -> None:
    """InvalidRequest naming the first field a device sent with control characters in it."""
    for name, value in fields.items():
        if value is not None and has_control_characters(value):
            raise InvalidRequest("%(field)s must not contain control characters", field=name)


def _usable(code: str, now: datetime) -> list[ColumnElement[bool]]:
    """The conditions under which ``code`` enrols a device (and may ask for the key)."""
    return [
        EnrolmentCode.code_hash == credentials.code_hash(code),
        EnrolmentCode.uses_left > 0,
        EnrolmentCode.expires_at > now,
        EnrolmentCode.revoked_at.is_(None),
    ]


def _refused() -> EnrolmentCodeInvalid:
    # One refusal for every code that enrols nothing, so neither request tells which it was.
    return EnrolmentCodeInvalid("the enrolment code is unknown, expired or used up")


def fingerprint_key(session: Session, *, code: str, now: datetime) -> str:
    """The fingerprint key of the school ``code`` enrols into (64 hex characters), for a device
    about to enrol with it; the code is not spent. A code that would not enrol gets the
    enrolment's own refusal."""
    refuse_control_characters({"code": code})
    key = session.scalar(
        select(School.fingerprint_key)
        .join(Group, Group.school_id == School.id)
        .join(EnrolmentCode, EnrolmentCode.group_id == Group.id)
        .where(*_usable(code, now))
    )
    if key is None:
        raise _refused()
    return key


def enroll(
    session: Session,
    *,
    code: str,
    platform: str,
    agent_version: str,
    label: str | None,
    fingerprint: str | None,
    now: datetime,
) -> Enrolled:
    """Spend one use of ``code`` and register a new device; a clone gets its own id too."""
    refuse_control_characters(
        {
            "code": code,
            "platform": platform,
            "agent_version": agent_version,
            "label": label,
            "fingerprint": fingerprint,
        }
    )
    # One conditional UPDATE spends the use: two processes can never both take the last one.
    spent = session.execute(
        update(EnrolmentCode)
        .where(*_usable(code, now))
        .values(uses_left=EnrolmentCode.uses_left - 1)
        .returning(EnrolmentCode.group_id, EnrolmentCode.id)
    ).first()
    if spent is None:
        raise _refused()
    group = session.get_one(Group, spent[0])
    school = session.get_one(School, group.school_id)
    token = credentials.new_device_token()
    device = Device(
        id=credentials.new_id("d_"),
        school_id=school.id,
        group_id=group.id,
        token_hash=credentials.token_hash(token),
        label=label,
        platform=platform,
        agent_version=agent_version,
        fingerprint=fingerprint,
        enrolled_at=now,
        last_seen=day_start(now, zone(school.timezone)),
        retired=False,
        enrolment_code_id=spent[1],
    )
    session.add(device)
    audit.record(
        session,
        actor=Actor.of_device(device.id, device.school_id),
        school_id=device.school_id,
        action="device.enroll",
        obj=None,
        now=now,
    )
    return Enrolled(device.id, token, group.name, school.name)


@dataclass(frozen=True)
class CodeRow:
    id: int
    group: str
    uses_left: int
    devices: int  # enrolled with it, retired ones included
    active_devices: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.uses_left > 0 and self.expires_at > now


def list_codes(session: Session, *, actor: Actor, limit: int = 100) -> list[CodeRow]:
    """The school's codes, newest first, with the devices each one enrolled."""
    access.require(actor, Ability.ENROL_DEVICES)
    enrolled = (
        select(
            Device.enrolment_code_id.label("code_id"),
            func.count().label("devices"),
            func.count().filter(Device.retired.is_(False)).label("active"),
        )
        .group_by(Device.enrolment_code_id)
        .subquery()
    )
    rows = session.execute(
        select(EnrolmentCode, Group.name, enrolled.c.devices, enrolled.c.active)
        .join(Group, Group.id == EnrolmentCode.group_id)
        .outerjoin(enrolled, enrolled.c.code_id == EnrolmentCode.id)
        .where(Group.school_id == actor.school_id)
        .order_by(EnrolmentCode.created_at.desc(), EnrolmentCode.id.desc())
        .limit(limit)
    ).all()
    return [
        CodeRow(
            id=code.id,
            group=group,
            uses_left=code.uses_left,
            devices=n or 0,
            active_devices=active or 0,
            created_at=code.created_at,
            expires_at=code.expires_at,
            revoked_at=code.revoked_at,
        )
        for code, group, n, active in rows
    ]


def school_code(session: Session, *, actor: Actor, code_id: int) -> EnrolmentCode:
    """A code of the actor's school; another school's code is NotFound, as if it did not exist."""
    access.require(actor, Ability.ENROL_DEVICES)
    missing = NotFound("no enrolment code %(id)s", id=code_id)
    code = session.get(EnrolmentCode, code_id)
    if code is None:
        raise missing
    access.require_same_school(actor, session.get_one(Group, code.group_id).school_id, missing)
    return code


def revoke_code(session: Session, *, actor: Actor, code_id: int, now: datetime) -> EnrolmentCode:
    """Make a code enrol nothing more; the devices it enrolled stay (``retire_code_devices``)."""
    code = school_code(session, actor=actor, code_id=code_id)
    if code.revoked_at is not None:
        raise Conflict("this enrolment code is revoked already")
    code.revoked_at = now
    audit.record(
        session,
        actor=actor,
        school_id=actor.school_id,
        action="enroll_code.revoke",
        obj=f"code:{code.id}",
        now=now,
    )
    return code


def retire_code_devices(session: Session, *, actor: Actor, code_id: int, now: datetime) -> int:
    """Retire every active device ``code_id`` enrolled (their tokens stop working); how many.
    One audit entry for the code: the devices' ids are in it through the code."""
    code = school_code(session, actor=actor, code_id=code_id)
    devices = session.scalars(
        select(Device).where(Device.enrolment_code_id == code.id, Device.retired.is_(False))
    ).all()
    for device in devices:
        device.retired = True
    audit.record(
        session,
        actor=actor,
        school_id=actor.school_id,
        action="enroll_code.retire_devices",
        obj=f"code:{code.id}",
        now=now,
    )
    return len(devices)
