"""Importing one file into a school's lessons: the use case behind ``lessons import``.

The file is parsed before any write transaction opens (a large calendar takes seconds, and on
SQLite a write transaction blocks the collector's other writers), then the plan is made and
applied in one transaction, together with the source's record of this import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import Conflict, InvalidRequest
from service.models import School, TimetableSource
from service.schools import registry as schools
from service.timetable import ImportResult, Limits, Plan, Window, preview
from service.timetable_store import inputs, sources, store

FILE_KINDS = {"ical": "ical_file", "csv": "csv", "zermelo": "zermelo"}


@dataclass(frozen=True)
class FileImport:
    data: bytes
    name: str  # the file's name, in messages
    source: str  # the source the lessons belong to
    window: Window | None  # None: the school year of ``now``
    mapping: str | None  # a preset's name or a TOML text; None: the source's, else the default
    group: str | None
    partial: bool = False
    dry_run: bool = False
    actor: str = "cli"


@dataclass(frozen=True)
class Done:
    preview: dict[str, Any]
    applied: store.Applied | None


def _source_row(session: Session, school: School, job: FileImport) -> TimetableSource | None:
    row = sources.find(session, school=school, name=job.source)
    if row is not None and row.kind in sources.FETCHED:
        raise Conflict(
            "source %(name)r is a %(kind)s source that syncs by itself "
            "(sources sync); name this import with --source",
            name=job.source,
            kind=row.kind,
        )
    return row


def run(
    sessions: sessionmaker[Session],
    *,
    school_name: str,
    job: FileImport,
    now: datetime,
    window_of: Callable[[Any], Window],
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Done:
    """Parse, plan and (unless a dry run) apply; nothing is stored when anything is wrong."""
    fmt = inputs.detect(job.data)
    kind = FILE_KINDS[fmt]
    with sessions.begin() as session:
        school = schools.school(session, school_name)
        tz = schools.check_timezone(school.timezone)
        row = _source_row(session, school, job)
        mapping = job.mapping if job.mapping is not None else (row.mapping if row else None)
        group = job.group if job.group is not None else (row.default_group if row else None)
    if fmt == "csv" and (job.mapping is not None):
        raise InvalidRequest("a CSV file has named columns; --mapping is for iCalendar files")
    window = job.window or window_of(tz)
    result = inputs.read(
        job.data,
        fmt=fmt,
        source=job.source,
        name=job.name,
        tz=tz,
        window=window,
        mapping=inputs.mapping_of(mapping, name=f"{job.source} mapping"),
        default_group=group,
        partial=job.partial,
        limits=limits,
        progress=progress,
    )
    try:
        with sessions.begin() as session:
            return _apply(session, school_name, job, kind, mapping, group, result, now)
    except IntegrityError:
        raise Conflict(
            "another import of source %(name)r ran at the same time; nothing was stored "
            "by this one: run it again",
            name=job.source,
        ) from None


def _apply(
    session: Session,
    school_name: str,
    job: FileImport,
    kind: str,
    mapping: str | None,
    group: str | None,
    result: ImportResult,
    now: datetime,
) -> Done:
    school = schools.school(session, school_name)
    stored = store.load(session, school=school, source=job.source)
    plan: Plan = store.plan(stored, result, now=now)
    summary = preview(result, plan)
    if job.dry_run:
        return Done(summary, None)
    applied = store.apply(
        session,
        school=school,
        plan=plan,
        stored=stored,
        now=now,
        actor=job.actor,
        source=job.source,
    )
    row = sources.find(session, school=school, name=job.source)
    if row is None:
        row = TimetableSource(
            school_id=school.id,
            name=sources.check_name(job.source),
            kind=kind,
            options={},
            interval_seconds=0,
            created_at=now,
        )
        session.add(row)
    row.kind, row.mapping, row.default_group = kind, mapping, group
    row.last_sync_at, row.last_result, row.last_error = now, "ok", None
    row.last_counts = {"lessons": len(result.occurrences), **applied.counts()}
    return Done(summary, applied)
