"""Enrolment codes (created by IT for one group) and device enrolment with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from service import access, audit, credentials
from service.access import Ability
from service.actors import Actor
from service.errors import EnrolmentCodeInvalid, InvalidRequest
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
    access.require(actor, Ability.ADMINISTER)
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
    # One conditional UPDATE spends the use: two processes can never both take the last one.
    spent = session.execute(
        update(EnrolmentCode)
        .where(
            EnrolmentCode.code_hash == credentials.code_hash(code),
            EnrolmentCode.uses_left > 0,
            EnrolmentCode.expires_at > now,
        )
        .values(uses_left=EnrolmentCode.uses_left - 1)
        .returning(EnrolmentCode.group_id)
    ).first()
    if spent is None:
        raise EnrolmentCodeInvalid("the enrolment code is unknown, expired or used up")
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
        last_seen=now,
        retired=False,
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
