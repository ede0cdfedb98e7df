"""Who may do what: every access decision of the collector, as one table and pure functions.

``ABILITIES`` is the specification: a role may do exactly what its row lists, nothing else.
The operator at the command line has the role ``admin`` for the school named with ``--school``
(``Actor.operator``); a device has no row and may do none of these. Every decision takes the
``Actor`` and plain attributes of what is asked about (a lesson's school and teacher, a school's
disclosure settings): no database and no clock, so the pages, the JSON API and the command line
ask the same question and get the same answer. ``tests/service/test_access.py`` is its table.

Device-level data (per-device numbers of a lesson) is shown only to the roles in
``DEVICE_LEVEL_SETTING``, and only while the named school setting reads ``pseudonymous``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Literal, Protocol

from service.actors import Actor
from service.errors import Forbidden, NotFound
from service.locale import N_


class Ability(StrEnum):
    STAFF_PAGES = "staff_pages"  # the lessons page, the group-chat register for one's own chats
    OWN_LESSONS = "own_lessons"  # open the lessons one teaches: report, trend, permissions
    SCHOOL_LESSONS = "school_lessons"  # open every lesson of the school
    SCHOOL_OVERVIEW = "school_overview"  # the attention list, every group chat of the school
    MANAGE_DEVICES = "manage_devices"  # retire, export and erase a device
    # enrolment codes: create, list, revoke, and retire the devices a code enrolled (no data)
    ENROL_DEVICES = "enrol_devices"
    ADMINISTER = "administer"  # users, codes, policy, school settings, audit log, timetable


ABILITIES: Mapping[str, frozenset[Ability]] = {
    "admin": frozenset(Ability),
    "leader": frozenset(
        {
            Ability.STAFF_PAGES,
            Ability.OWN_LESSONS,
            Ability.SCHOOL_LESSONS,
            Ability.SCHOOL_OVERVIEW,
        }
    ),
    "teacher": frozenset({Ability.STAFF_PAGES, Ability.OWN_LESSONS}),
    # IT installs and enrols devices; it reads nothing about what pupils do in class.
    "it": frozenset({Ability.ENROL_DEVICES}),
}

# role -> the school setting that must read "pseudonymous" before it sees per-device numbers
DEVICE_LEVEL_SETTING: Mapping[str, Literal["disclosure", "admin_disclosure"]] = {
    "leader": "disclosure",
    "admin": "admin_disclosure",
}

_REFUSED: Mapping[Ability, str] = {
    Ability.STAFF_PAGES: N_("this page is not open to your role"),
    Ability.OWN_LESSONS: N_("you may only open lessons you teach"),
    Ability.SCHOOL_LESSONS: N_("you may only open lessons you teach"),
    Ability.SCHOOL_OVERVIEW: N_("this overview is for leaders and admins"),
    Ability.MANAGE_DEVICES: N_("managing devices is for admins"),
    Ability.ENROL_DEVICES: N_("enrolment codes are for IT and admins"),
    Ability.ADMINISTER: N_("this page is not open to your role"),
}


class LessonFacts(Protocol):
    """What a decision about one lesson reads: a ``Lesson`` row, or any object with these."""

    @property
    def school_id(self) -> int: ...
    @property
    def teacher_id(self) -> int | None: ...


class DisclosureFacts(Protocol):
    """What the device-level decision reads of a school: a ``School`` row."""

    @property
    def disclosure(self) -> str: ...
    @property
    def admin_disclosure(self) -> str: ...


def may(actor: Actor, ability: Ability) -> bool:
    return ability in ABILITIES.get(actor.role, frozenset())


def require(actor: Actor, ability: Ability) -> None:
    """Forbidden unless the actor's role has ``ability``."""
    if not may(actor, ability):
        raise Forbidden(_REFUSED[ability])


def roles_with(ability: Ability) -> tuple[str, ...]:
    """The roles that have ``ability``, in the table's order (for navigation and listings)."""
    return tuple(role for role, abilities in ABILITIES.items() if ability in abilities)


LessonScope = Literal["school", "own", "none"]


def lesson_scope(actor: Actor) -> LessonScope:
    """Which of its school's lessons the actor may open: all, those it teaches, or none.
    A listing or a trend counts exactly these, so no sum reveals a lesson the actor may not open.
    """
    if may(actor, Ability.SCHOOL_LESSONS):
        return "school"
    if may(actor, Ability.OWN_LESSONS) and actor.user_id is not None:
        return "own"
    return "none"


def may_open_lesson(actor: Actor, lesson: LessonFacts) -> bool:
    if lesson.school_id != actor.school_id:
        return False
    scope = lesson_scope(actor)
    return scope == "school" or (scope == "own" and lesson.teacher_id == actor.user_id)


def require_lesson(actor: Actor, lesson: LessonFacts, lesson_id: str) -> None:
    """NotFound for another school's lesson (its existence is not theirs to learn), Forbidden
    for a lesson of the actor's own school it may not open."""
    if lesson.school_id != actor.school_id:
        raise NotFound("no lesson %(id)r", id=lesson_id[:64])
    if not may_open_lesson(actor, lesson):
        raise Forbidden(_REFUSED[Ability.OWN_LESSONS])


def require_same_school(actor: Actor, school_id: int, missing: NotFound) -> None:
    """``missing``, the NotFound of a row that does not exist, for a row of another school."""
    if school_id != actor.school_id:
        raise missing


def may_see_devices(actor: Actor, school: DisclosureFacts) -> bool:
    """Per-device numbers: only for the roles in ``DEVICE_LEVEL_SETTING``, at ``pseudonymous``."""
    setting = DEVICE_LEVEL_SETTING.get(actor.role)
    return setting is not None and getattr(school, setting) == "pseudonymous"


def require_device_level(actor: Actor, school: DisclosureFacts) -> None:
    if not may_see_devices(actor, school):
        raise Forbidden("the school's disclosure level does not show per-device data to you")
