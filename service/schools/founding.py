"""Founding a school: the one operation behind ``lessonwatch-service schools add``.

Only the operator at the command line founds a school: the board's IT, who runs the collector
for every school on it. No page does, as a signed-in user belongs to a school that exists
already. Every other command looks its school up and refuses one it does not know (issue 17,
point 11), so a mistyped ``--school`` can no longer found an empty school by accident.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.actors import Actor
from service.errors import Conflict
from service.models import School
from service.schools.registry import DEFAULT_TIMEZONE, check_timezone, clean_name, find


def add_school(
    session: Session, *, name: str, timezone: str = DEFAULT_TIMEZONE, now: datetime
) -> School:
    """A new school with the default settings and ``timezone``; audited as ``school.add``
    under ``cli`` in the new school's own log. Conflict when the name is taken."""
    name = clean_name(name)
    check_timezone(timezone)
    if find(session, name) is not None:
        raise Conflict("a school named %(name)r exists already", name=name)
    try:
        with session.begin_nested():
            row = School(name=name, timezone=timezone)
            session.add(row)
    except IntegrityError:
        # Another process founded it between the look-up and the insert.
        raise Conflict("a school named %(name)r exists already", name=name) from None
    audit.record(
        session,
        actor=Actor.operator(row),
        school_id=row.id,
        action="school.add",
        obj=f"school:{row.id}",
        now=now,
    )
    return row
