"""The access table and its decisions: each row is one rule, read as the specification."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from service import access
from service.access import ABILITIES, Ability
from service.actors import Actor
from service.errors import Forbidden, NotFound
from service.models import ROLES

SCHOOL, OTHER_SCHOOL = 1, 2
ME, COLLEAGUE = 10, 11


def user(role: str, *, school: int = SCHOOL, user_id: int = ME) -> Actor:
    return Actor("user", f"{role}1", school, role, user_id)


OPERATOR = Actor("operator", "cli", SCHOOL, "admin")
DEVICE = Actor.of_device("d_x", SCHOOL)


@dataclass(frozen=True)
class LessonFacts:
    school_id: int
    teacher_id: int | None


@dataclass(frozen=True)
class SchoolFacts:
    disclosure: str
    admin_disclosure: str


A = Ability
ALL = set(Ability)


@pytest.mark.parametrize(
    ("actor", "abilities"),
    [
        # Admins, and the operator at the command line (an admin of --school), may do everything.
        (user("admin"), ALL),
        (OPERATOR, ALL),
        # Leaders read the whole school, manage nothing.
        (user("leader"), {A.STAFF_PAGES, A.OWN_LESSONS, A.SCHOOL_LESSONS, A.SCHOOL_OVERVIEW}),
        # Teachers: their own lessons and the staff pages.
        (user("teacher"), {A.STAFF_PAGES, A.OWN_LESSONS}),
        # IT enrols devices (codes, and retiring a leaked code's devices) and reads nothing of
        # lessons; devices nothing here; an unknown role is refused, not guessed.
        (user("it"), {A.ENROL_DEVICES}),
        (DEVICE, set()),
        (user("caretaker"), set()),
    ],
)
def test_the_table(actor: Actor, abilities: set[Ability]) -> None:
    """Each actor may do exactly what its role's row lists, and is refused the rest."""
    assert {a for a in Ability if access.may(actor, a)} == abilities
    for refused in ALL - abilities:
        with pytest.raises(Forbidden):
            access.require(actor, refused)


def test_every_role_has_a_row() -> None:
    """The table names every role a user can have, so none falls through to a default."""
    assert set(ABILITIES) == set(ROLES)
    assert access.roles_with(Ability.SCHOOL_OVERVIEW) == ("admin", "leader")


@pytest.mark.parametrize(
    ("actor", "lesson", "opens"),
    [
        # Their own lesson: its teacher, the school's leaders and admins, the operator.
        (user("teacher"), LessonFacts(SCHOOL, ME), True),
        (user("leader"), LessonFacts(SCHOOL, COLLEAGUE), True),
        (user("admin"), LessonFacts(SCHOOL, COLLEAGUE), True),
        (OPERATOR, LessonFacts(SCHOOL, None), True),
        # A colleague's lesson, or one without a teacher: not for a teacher.
        (user("teacher"), LessonFacts(SCHOOL, COLLEAGUE), False),
        (user("teacher"), LessonFacts(SCHOOL, None), False),
        # IT never.
        (user("it"), LessonFacts(SCHOOL, ME), False),
        # Another school's lesson: nobody, not even its admin or a teacher with the same id.
        (user("admin", school=OTHER_SCHOOL), LessonFacts(SCHOOL, COLLEAGUE), False),
        (user("teacher", school=OTHER_SCHOOL), LessonFacts(SCHOOL, ME), False),
        (Actor("operator", "cli", OTHER_SCHOOL, "admin"), LessonFacts(SCHOOL, None), False),
    ],
)
def test_who_opens_a_lesson(actor: Actor, lesson: LessonFacts, opens: bool) -> None:
    """A lesson opens for its own school's staff as the table allows; refusals differ by kind."""
    assert access.may_open_lesson(actor, lesson) is opens
    if opens:
        access.require_lesson(actor, lesson, "l_x")
    else:
        other_school = lesson.school_id != actor.school_id
        with pytest.raises(NotFound if other_school else Forbidden):
            access.require_lesson(actor, lesson, "l_x")


@pytest.mark.parametrize(
    ("actor", "scope"),
    [
        (user("admin"), "school"),
        (user("leader"), "school"),
        (OPERATOR, "school"),
        (user("teacher"), "own"),
        (user("it"), "none"),
        (DEVICE, "none"),
    ],
)
def test_lesson_scope_of_listings_and_trends(actor: Actor, scope: str) -> None:
    """What a listing or trend may count: the school's lessons, one's own, or none."""
    assert access.lesson_scope(actor) == scope


@pytest.mark.parametrize(
    ("role", "disclosure", "admin_disclosure", "allowed"),
    [
        # Teachers and IT: never, whatever the school says.
        ("teacher", "pseudonymous", "pseudonymous", False),
        ("it", "pseudonymous", "pseudonymous", False),
        # Leaders follow the school's disclosure level.
        ("leader", "aggregate", "pseudonymous", False),
        ("leader", "pseudonymous", "aggregate", True),
        # Admins follow their own setting.
        ("admin", "pseudonymous", "aggregate", False),
        ("admin", "aggregate", "pseudonymous", True),
        # Anything but "pseudonymous" means aggregate only.
        ("admin", "aggregate", "Pseudonymous", False),
    ],
)
def test_device_level_disclosure(
    role: str, disclosure: str, admin_disclosure: str, allowed: bool
) -> None:
    """Who may see per-device data, by role and the school's two disclosure settings."""
    school = SchoolFacts(disclosure, admin_disclosure)
    assert access.may_see_devices(user(role), school) is allowed
    if not allowed:
        with pytest.raises(Forbidden):
            access.require_device_level(user(role), school)


def test_a_row_of_another_school_is_not_found() -> None:
    """Rows of another school read as missing, with the caller's message."""
    access.require_same_school(user("admin"), SCHOOL, NotFound("no device"))
    with pytest.raises(NotFound, match="no device"):
        access.require_same_school(user("admin"), OTHER_SCHOOL, NotFound("no device"))


def test_the_table_is_the_one_in_the_docs() -> None:
    """docs/web.md shows the table as it is: one row per ability, in order, one column per role."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "web.md").read_text()
    section = text.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    roles = ["admin", "leader", "teacher", "it"]
    assert [h.split()[0] for h in header[1:]] == roles
    assert len(rows) == len(Ability) + 1  # and the per-device row
    for ability, row in zip(Ability, rows, strict=False):
        shown = {role for role, cell in zip(roles, row[1:], strict=True) if cell == "yes"}
        assert shown == set(access.roles_with(ability)), row[0]
