"""Schools, groups and rooms: looked up by name; groups and rooms created on first use.

``school`` creates a school on first use for the demo and the tests; the command line only looks
schools up (``find``) and founds them with ``service.schools.founding.add_school``.

Creation is race-safe across processes: insert inside a savepoint and, when another process
won, read back its row (the unique constraints decide, not a check-then-insert).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import InvalidRequest
from service.models import Group, Room, School

DEFAULT_SCHOOL = "School"
_NAME_MAX = 64

T = TypeVar("T", School, Group, Room)


def _get_or_create(session: Session, find: Callable[[], T | None], make: Callable[[], T]) -> T:
    found = find()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found
    return row


DEFAULT_TIMEZONE = "Europe/Amsterdam"  # a new school's, unless its founder names another


def school(session: Session, name: str = DEFAULT_SCHOOL, timezone: str | None = None) -> School:
    name = clean_name(name)
    if timezone is not None:
        check_timezone(timezone)
    return _get_or_create(
        session,
        lambda: session.scalar(select(School).where(School.name == name)),
        lambda: School(name=name, timezone=timezone or DEFAULT_TIMEZONE),
    )


def find(session: Session, name: str) -> School | None:
    """The school of that exact name, or None; never creates one."""
    return session.scalar(select(School).where(School.name == name.strip()))


def names(session: Session) -> list[str]:
    """Every school's name, sorted: for a message that says which schools there are."""
    return [s.name for s in all_schools(session)]


def all_schools(session: Session) -> list[School]:
    """Every school, by name."""
    return list(session.scalars(select(School).order_by(School.name)))


def clean_name(name: str) -> str:
    """The school name as stored: trimmed, 1 to 200 printable characters."""
    return _clean(name, "school name", 200)


def group(session: Session, school_row: School, name: str) -> Group:
    name = _clean(name, "group name", _NAME_MAX)
    return _get_or_create(
        session,
        lambda: session.scalar(
            select(Group).where(Group.school_id == school_row.id, Group.name == name)
        ),
        lambda: Group(school_id=school_row.id, name=name),
    )


def find_group(session: Session, school_row: School, name: str) -> Group | None:
    return session.scalar(select(Group).where(Group.school_id == school_row.id, Group.name == name))


def room(session: Session, school_row: School, name: str) -> Room:
    name = _clean(name, "room name", _NAME_MAX)
    return _get_or_create(
        session,
        lambda: session.scalar(
            select(Room).where(Room.school_id == school_row.id, Room.name == name)
        ),
        lambda: Room(school_id=school_row.id, name=name),
    )


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest("unknown time zone %(name)r", name=name[:64]) from None


def _clean(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or not value.isprintable():
        raise InvalidRequest(
            "%(what)s must be 1 to %(limit)s printable characters", what=what, limit=limit
        )
    return value
