"""Changing a school's settings: the one operation (and its one validation) behind
``/admin/school``, ``/admin/policy`` and ``lessonwatch-service schools set``.

Each call checks that the actor may administer the school, validates every value before it
changes any, and writes one audit entry: ``school.settings`` for the settings, ``policy.save``
for the policy override.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy.orm import Session

import policies
from service import access, audit
from service.access import Ability
from service.actors import Actor
from service.errors import InvalidRequest
from service.locale import N_
from service.models import School
from service.retention import purge
from service.schools.registry import check_timezone
from service.timetable import REGIONS

# Device-level data is kept at most a school year: the purge on 1 August removes the previous
# year's lessons whatever this says, so a longer retention would promise what is not kept.
RETENTION_DAYS = (1, 366)
SMALL_COUNT_THRESHOLD = (1, 100)
# Percent of device-lessons with findings; 0 would list every group and subject.
ATTENTION_THRESHOLD = (1, 100)
DISCLOSURES = ("aggregate", "pseudonymous")
MAX_OVERRIDE = 200_000


@dataclass(frozen=True)
class Changes:
    """The settings to change; ``None`` leaves one as it is. The closed platform is not here:
    setting it re-checks the group chats (``groupchats.register.set_closed_platform``)."""

    timezone: str | None = None
    retention_days: int | None = None
    audit_retention_days: int | None = None
    small_count_threshold: int | None = None
    attention_threshold: int | None = None
    disclosure: str | None = None
    admin_disclosure: str | None = None
    holiday_region: str | None = None


def _within(value: int, bounds: tuple[int, int], what: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise InvalidRequest(
            "%(what)s must be from %(low)s to %(high)s", what=what, low=low, high=high
        )


def validate(changes: Changes) -> None:
    """InvalidRequest naming the first value that is not allowed."""
    if changes.timezone is not None:
        check_timezone(changes.timezone)
    if changes.retention_days is not None:
        _within(changes.retention_days, RETENTION_DAYS, N_("retention days"))
    if changes.audit_retention_days is not None:
        purge.check_audit_days(changes.audit_retention_days)
    if changes.small_count_threshold is not None:
        _within(
            changes.small_count_threshold, SMALL_COUNT_THRESHOLD, N_("the small-count threshold")
        )
    if changes.attention_threshold is not None:
        _within(changes.attention_threshold, ATTENTION_THRESHOLD, N_("the attention threshold"))
    for value in (changes.disclosure, changes.admin_disclosure):
        if value is not None and value not in DISCLOSURES:
            raise InvalidRequest("disclosure must be aggregate or pseudonymous")
    if changes.holiday_region is not None and changes.holiday_region not in REGIONS:
        raise InvalidRequest(
            "the holiday region must be one of %(choices)s", choices=", ".join(REGIONS)
        )


def change(session: Session, *, actor: Actor, changes: Changes, now: datetime) -> School:
    """Apply ``changes`` to the actor's school, all or nothing."""
    access.require(actor, Ability.ADMINISTER)
    school = session.get_one(School, actor.school_id)
    validate(changes)
    for field in fields(changes):
        value = getattr(changes, field.name)
        if value is not None:
            setattr(school, field.name, value)
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="school.settings",
        obj=f"school:{school.id}",
        now=now,
    )
    return school


def save_policy_override(session: Session, *, actor: Actor, text: str, now: datetime) -> School:
    """Store the school's policy override (blank text clears it) once the policies engine has
    validated it: ``policies.PolicyError``, with the line and problem, when it does not."""
    access.require(actor, Ability.ADMINISTER)
    school = session.get_one(School, actor.school_id)
    if len(text) > MAX_OVERRIDE:
        raise InvalidRequest("the override may be at most %(limit)s characters", limit=MAX_OVERRIDE)
    text = text.replace("\r\n", "\n")
    if text.strip():
        policies.effective_document([(f"school:{school.id}", text)])
    school.policy_override = text if text.strip() else None
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="policy.save",
        obj=f"school:{school.id}",
        now=now,
    )
    return school
