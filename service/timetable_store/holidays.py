"""School holidays in the database, and which lessons fall in one for their school.

The national holidays are open data, stored once as shared reference (``school_id`` NULL) by
the operator (``lessonwatch-service holidays import --shared``). Any file an admin imports is
that school's alone: stored under its ``school_id``, and for that school its own rows replace
the reference of the school years they cover; no other school ever reads them. A school's
region (``schools.holiday_region``) picks its own periods from what it reads.

Nothing is written to the lessons: whether a lesson is in a holiday is decided when it is read,
so a holiday file imported after the timetable (or a region changed later) applies at once,
and removing it restores the lessons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from service import access, audit
from service.access import Ability
from service.actors import Actor
from service.errors import Forbidden, InvalidRequest
from service.models import Lesson, School, SchoolHoliday
from service.schools import registry as schools
from service.timetable import REGIONS, Holiday, TimetableError, holiday_at, parse_holidays
from service.timetable.holidays import NATIONWIDE

SHARED = None  # the ``school_id`` of the shared national reference


@dataclass(frozen=True)
class Imported:
    stored: int
    replaced: int
    schoolyears: tuple[str, ...]
    regions: tuple[str, ...]


def store(
    session: Session, holidays: Sequence[Holiday], *, school_id: int | None, region: str | None
) -> Imported:
    """Replace the holidays of the same school years (and region) of one owner with these:
    of the school ``school_id``, or of the shared reference when it is ``SHARED``."""
    keep = (region, NATIONWIDE) if region is not None else (*REGIONS, NATIONWIDE)
    chosen = [h for h in holidays if h.region in keep]
    years = tuple(sorted({h.schoolyear for h in chosen}))
    gone = session.execute(
        delete(SchoolHoliday).where(
            _owned_by(school_id),
            SchoolHoliday.schoolyear.in_(years),
            SchoolHoliday.region.in_(keep),
        ),
        execution_options={"synchronize_session": False},
    )
    session.add_all(
        SchoolHoliday(
            school_id=school_id,
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


def import_file(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    name: str,
    now: datetime,
    shared: bool = False,
    region: str | None = None,
) -> Imported:
    """A Rijksoverheid holiday file, for the actor's school alone; with ``shared``, the national
    reference every school reads, which only the operator at the command line may replace.
    With ``region``, only that region's periods (and the nationwide ones) are stored."""
    access.require(actor, Ability.ADMINISTER)
    if shared and actor.kind != "operator":
        raise Forbidden("only the operator replaces the shared holidays")
    try:
        found = parse_holidays(data, name=name)
    except TimetableError as exc:
        raise InvalidRequest("%(problem)s", problem=exc) from None
    if not found:
        raise InvalidRequest("%(name)s: the file holds no school holidays", name=name)
    owner = SHARED if shared else actor.school_id
    result = store(session, found, school_id=owner, region=region)
    audit.record(
        session,
        actor=actor,
        school_id=actor.school_id,
        action="holidays.import",
        obj=f"holidays:{'shared:' if shared else ''}{','.join(result.schoolyears)[:100]}",
        now=now,
        reason=f"{result.stored} stored, {result.replaced} replaced",
    )
    return result


def forget_own(session: Session, *, actor: Actor, now: datetime) -> int:
    """Remove every holiday the actor's school imported: it reads the shared reference again.
    How many periods were removed."""
    access.require(actor, Ability.ADMINISTER)
    removed = own_periods(session, actor.school_id)
    session.execute(delete(SchoolHoliday).where(SchoolHoliday.school_id == actor.school_id))
    audit.record(
        session,
        actor=actor,
        school_id=actor.school_id,
        action="holidays.forget",
        obj=f"school:{actor.school_id}",
        now=now,
        reason=f"{removed} removed",
    )
    return removed


def own_periods(session: Session, school_id: int) -> int:
    """How many holiday periods the school imported itself (0: it reads the shared ones)."""
    own = SchoolHoliday.school_id == school_id
    return session.scalar(select(func.count()).select_from(SchoolHoliday).where(own)) or 0


def set_region(
    session: Session, *, actor: Actor, region: str | None, advised: bool, now: datetime
) -> School:
    """The region whose holidays the school keeps (``None`` clears it); ``advised``: whether the
    advised (not compulsory) holiday weeks count as holidays."""
    access.require(actor, Ability.ADMINISTER)
    if region and region not in REGIONS:
        raise InvalidRequest("region must be one of %(choices)s", choices=", ".join(REGIONS))
    school = session.get_one(School, actor.school_id)
    school.holiday_region = region or None
    school.holiday_advised = advised
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="school.holiday_region",
        obj=f"school:{school.id}",
        now=now,
        reason=f"{region or 'none'}{'' if advised else ', advised holidays moved'}",
    )
    return school


def _owned_by(school_id: int | None) -> ColumnElement[bool]:
    if school_id is SHARED:
        return SchoolHoliday.school_id.is_(None)
    return SchoolHoliday.school_id == school_id


def rows(
    session: Session,
    *,
    school_id: int | None,
    region: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> list[SchoolHoliday]:
    """The holidays a school reads, of a region (with the nationwide ones) overlapping
    [first, last]: its own, and the shared reference of the school years it has none of.
    ``school_id`` ``SHARED``: the shared reference alone."""
    owner = _owned_by(SHARED)
    if school_id is not SHARED:
        mine = select(SchoolHoliday.schoolyear).where(_owned_by(school_id)).distinct()
        owner = _owned_by(school_id) | (owner & SchoolHoliday.schoolyear.not_in(mine))
    query = (
        select(SchoolHoliday)
        .where(owner)
        .order_by(SchoolHoliday.first_day, SchoolHoliday.region, SchoolHoliday.id)
    )
    if region is not None:
        query = query.where(SchoolHoliday.region.in_((region, NATIONWIDE)))
    if first is not None:
        query = query.where(SchoolHoliday.last_day >= first)
    if last is not None:
        query = query.where(SchoolHoliday.first_day <= last)
    return list(session.scalars(query))


def as_holiday(row: SchoolHoliday) -> Holiday:
    return Holiday(
        row.name, row.schoolyear, row.region, row.first_day, row.last_day, row.compulsory
    )


def stored(
    session: Session,
    *,
    school_id: int | None,
    region: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> list[Holiday]:
    """``rows`` as ``Holiday`` values, for the pure rules of ``service.timetable``."""
    found = rows(session, school_id=school_id, region=region, first=first, last=last)
    return [as_holiday(r) for r in found]


def in_holiday(session: Session, school: School, lessons: Iterable[Lesson]) -> dict[str, str]:
    """Lesson id to holiday name, for the lessons that fall in a holiday of the school's region."""
    # Only the school's own lessons: another school's never read this school's holidays.
    chosen = [lesson for lesson in lessons if lesson.school_id == school.id]
    if school.holiday_region not in REGIONS or not chosen:
        return {}
    tz = schools.check_timezone(school.timezone)
    # A day of margin each side: the lessons' UTC dates can differ from their local dates.
    first = min(r.start for r in chosen).date() - timedelta(days=1)
    last = max(r.start for r in chosen).date() + timedelta(days=1)
    holidays = stored(
        session, school_id=school.id, region=school.holiday_region, first=first, last=last
    )
    if not holidays:
        return {}
    found = {}
    for lesson in chosen:
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
