"""School holidays in the database, and which lessons fall in one for their school.

Holidays are national open data, so they are stored once for all schools; a school's region
(``schools.holiday_region``) picks its own. Nothing is written to the lessons: whether a lesson
is in a holiday is decided when it is read, so a holiday file imported after the timetable (or
a region changed later) applies at once, and removing it restores the lessons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.models import Lesson, School, SchoolHoliday
from service.schools import registry as schools
from service.timetable import REGIONS, Holiday, holiday_at
from service.timetable.holidays import NATIONWIDE


@dataclass(frozen=True)
class Imported:
    stored: int
    replaced: int
    schoolyears: tuple[str, ...]
    regions: tuple[str, ...]


def store(session: Session, holidays: Sequence[Holiday], *, region: str | None) -> Imported:
    """Replace the stored holidays of the same school years (and region) with these."""
    keep = (region, NATIONWIDE) if region is not None else (*REGIONS, NATIONWIDE)
    chosen = [h for h in holidays if h.region in keep]
    years = tuple(sorted({h.schoolyear for h in chosen}))
    gone = session.execute(
        delete(SchoolHoliday).where(
            SchoolHoliday.schoolyear.in_(years), SchoolHoliday.region.in_(keep)
        ),
        execution_options={"synchronize_session": False},
    )
    session.add_all(
        SchoolHoliday(
            region=h.region,
            schoolyear=h.schoolyear,
            name=h.name[:100],
            first_day=h.first_day,
            last_day=h.last_day,
            compulsory=h.compulsory,
        )
        for h in chosen
    )
    session.flush()
    replaced = int(getattr(gone, "rowcount", 0) or 0)
    return Imported(len(chosen), replaced, years, tuple(sorted({h.region for h in chosen})))


def stored(
    session: Session,
    *,
    region: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> list[Holiday]:
    """Stored holidays of a region (with the nationwide ones) overlapping [first, last]."""
    query = select(SchoolHoliday).order_by(SchoolHoliday.first_day, SchoolHoliday.region)
    if region is not None:
        query = query.where(SchoolHoliday.region.in_((region, NATIONWIDE)))
    if first is not None:
        query = query.where(SchoolHoliday.last_day >= first)
    if last is not None:
        query = query.where(SchoolHoliday.first_day <= last)
    return [
        Holiday(h.name, h.schoolyear, h.region, h.first_day, h.last_day, h.compulsory)
        for h in session.scalars(query)
    ]


def in_holiday(session: Session, school: School, lessons: Iterable[Lesson]) -> dict[str, str]:
    """Lesson id to holiday name, for the lessons that fall in a holiday of the school's region."""
    rows = list(lessons)
    if school.holiday_region not in REGIONS or not rows:
        return {}
    tz = schools.check_timezone(school.timezone)
    # A day of margin each side: the lessons' UTC dates can differ from their local dates.
    first = min(r.start for r in rows).date() - timedelta(days=1)
    last = max(r.start for r in rows).date() + timedelta(days=1)
    holidays = stored(session, region=school.holiday_region, first=first, last=last)
    if not holidays:
        return {}
    found = {}
    for lesson in rows:
        holiday = holiday_at(
            lesson.start,
            school.holiday_region,
            holidays,
            tz,
            include_advised=school.holiday_advised,
        )
        if holiday is not None:
            found[lesson.id] = holiday.name
    return found
