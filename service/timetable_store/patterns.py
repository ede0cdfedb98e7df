"""Weekly patterns as sources: stored with their definition, generated into lessons on save.

A pattern is a ``timetable_sources`` row of kind ``pattern`` named ``pattern <group>``, whose
options hold the form as the admin wrote it. Saving generates the lessons and applies them with
the same sync plan as every other source, so saving again updates by the stable keys and removes
what the new pattern no longer has (also before a first day moved later or after a last day
moved earlier: the plan covers both ranges).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.errors import Conflict
from service.models import School, TimetableSource
from service.schools import registry as schools
from service.timetable import REGIONS, Limits, Window, preview
from service.timetable.pattern import Pattern, generate, parse_blocks, window_of
from service.timetable_store import holidays, sources, store

KIND = "pattern"


def source_name(group: str) -> str:
    return f"pattern {group}"


def parse(
    *,
    group: str,
    first: date,
    last: date,
    days: dict[int, str],
    teacher: str | None,
    room: str | None,
) -> Pattern:
    blocks = {wd: parse_blocks(text, weekday=wd) for wd, text in days.items() if text.strip()}
    return Pattern(group, first, last, blocks, teacher or None, room or None)


def patterns(session: Session, *, school: School) -> list[dict[str, Any]]:
    return [
        {"name": s.name, **s.options, "last_counts": s.last_counts}
        for s in sources.list_sources(session, school=school)
        if s.kind == KIND
    ]


def save(
    session: Session,
    *,
    school: School,
    pattern: Pattern,
    days: dict[int, str],
    now: datetime,
    actor: str,
) -> dict[str, Any]:
    """Store the pattern and apply its lessons; returns the import preview with its plan."""
    name = source_name(schools.group(session, school, pattern.group).name)
    row = sources.find(session, school=school, name=name)
    if row is not None and row.kind != KIND:
        raise Conflict("there is already a %(kind)s source %(name)r", kind=row.kind, name=name)
    tz = schools.check_timezone(school.timezone)
    region = school.holiday_region if school.holiday_region in REGIONS else None
    found = (
        holidays.stored(
            session, school_id=school.id, region=region, first=pattern.first, last=pattern.last
        )
        if region
        else []
    )
    result = generate(
        pattern,
        source=name,
        tz=tz,
        holidays=found,
        region=region,
        include_advised=school.holiday_advised,
    )
    if row is not None and "first" in row.options:
        before = replace(
            pattern,
            first=date.fromisoformat(row.options["first"]),
            last=date.fromisoformat(row.options["last"]),
        )
        old = window_of(before, tz, Limits())
        window = Window(min(old.start, result.window.start), max(old.end, result.window.end))
        result = replace(result, window=window)
    stored = store.load(session, school=school, source=name)
    plan = store.plan(stored, result, now=now)
    applied = store.apply(
        session, school=school, plan=plan, stored=stored, now=now, actor=actor, source=name
    )
    if row is None:
        row = TimetableSource(
            school_id=school.id,
            name=name,
            kind=KIND,
            options={},
            interval_seconds=0,
            created_at=now,
        )
        session.add(row)
    row.default_group = pattern.group
    row.options = {
        "group": pattern.group,
        "first": pattern.first.isoformat(),
        "last": pattern.last.isoformat(),
        "days": {str(wd): text.strip() for wd, text in days.items() if text.strip()},
        "teacher": pattern.teacher,
        "room": pattern.room,
    }
    row.last_sync_at, row.last_result, row.last_error = now, "ok", None
    row.last_counts = {"lessons": len(result.occurrences), **applied.counts()}
    return preview(result, plan)
