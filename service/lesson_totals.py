"""Per-lesson totals: what pages that show many lessons at once (the group trend, the
escalations) read, so a view never decodes thousands of summaries.

A lesson's totals are ``devices_reporting`` and ``categories`` of ``reports.report_numbers``,
computed by that function from the stored summaries (one source of truth) and kept in
``lesson_totals`` with the fingerprint of the summaries they came from: how many, the newest
id and the newest ``received_at``. A view reads the fingerprints of all its lessons in one
grouped query on the indexed ``lesson_id`` and recomputes only the lessons whose fingerprint
changed (a late upload, an erased device), writing them back. Summaries are only ever inserted
(ids increase) or deleted, so a changed set changes the fingerprint; the one blind spot is SQLite
reusing the id of the newest row after it was erased, for a summary received in the same
microsecond. Lessons past retention read the frozen ``LessonAggregate``; the purge deletes their
totals with the summaries. ``devices_expected`` is counted live, as the report does (devices
enrol and retire without a summary changing).

Neither the lesson's times nor its group enter the kept numbers, so timetable edits leave them
valid. Totals are aggregates per lesson, kept unsuppressed like the frozen numbers; pages
suppress small counts when they show them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from policies.wire import parse_summary
from service.db import is_postgres
from service.models import Device, DeviceLessonSummary, Lesson, LessonAggregate, LessonTotals
from service.reports import report_numbers

# Bump when what is kept changes: rows of another version are recomputed on their next read.
VERSION = 1
KEPT = ("devices_reporting", "categories")
# Lesson ids per IN list: well inside SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 1000


@dataclass(frozen=True)
class Fingerprint:
    summaries: int
    last_id: int
    last_received_at: datetime


@dataclass(frozen=True)
class Stored:
    """One row of a lesson's summaries, as far as the totals need it."""

    id: int
    device_id: str
    received_at: datetime
    summary: dict[str, Any]


# --- decide: pure ----------------------------------------------------------------------------


def fingerprint_of(rows: Sequence[Stored]) -> Fingerprint:
    """The fingerprint of a non-empty set of summaries, as the grouped query computes it."""
    return Fingerprint(len(rows), max(r.id for r in rows), max(r.received_at for r in rows))


def totals_of(lesson: Lesson, rows: Sequence[Stored]) -> dict[str, Any]:
    """The kept numbers of one lesson, by the report's own function."""
    numbers = report_numbers(
        lesson_start=lesson.start,
        lesson_end=lesson.end,
        devices_expected=0,  # not kept: counted live
        summaries=[(r.device_id, parse_summary(r.summary)) for r in rows],
    )
    return {key: numbers[key] for key in KEPT}


def to_recompute(
    current: Mapping[str, Fingerprint], cached: Mapping[str, tuple[int, Fingerprint]]
) -> list[str]:
    """Lessons with summaries whose kept totals are missing, of another version, or stale."""
    return sorted(
        lesson_id
        for lesson_id, fingerprint in current.items()
        if cached.get(lesson_id) != (VERSION, fingerprint)
    )


# --- gather and act --------------------------------------------------------------------------


def for_lessons(
    session: Session, lessons: Sequence[Lesson], *, expected: bool = False
) -> dict[str, dict[str, Any]]:
    """Per lesson id ``devices_reporting`` and ``categories`` (and ``devices_expected`` when
    asked), equal to the report's numbers; a fixed number of queries per ``CHUNK`` lessons."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(lessons):
        out.update(_chunk_totals(session, chunk, expected))
    return out


def _chunks(lessons: Sequence[Lesson]) -> Iterator[Sequence[Lesson]]:
    for i in range(0, len(lessons), CHUNK):
        yield lessons[i : i + CHUNK]


def _chunk_totals(
    session: Session, lessons: Sequence[Lesson], expected: bool
) -> dict[str, dict[str, Any]]:
    ids = [lesson.id for lesson in lessons]
    aggregates = select(LessonAggregate.lesson_id, LessonAggregate.data).where(
        LessonAggregate.lesson_id.in_(ids)
    )
    frozen: dict[str, dict[str, Any]] = dict(session.execute(aggregates).all())
    live = [lesson for lesson in lessons if lesson.id not in frozen]
    current = _fingerprints(session, [lesson.id for lesson in live])
    cached, kept = _cached(session, [lesson.id for lesson in live])
    stale = to_recompute(current, cached)
    if stale:
        kept.update(_recompute(session, [lesson for lesson in live if lesson.id in set(stale)]))
    # Totals of lessons whose summaries are all gone (every device erased) go with them.
    gone = [lesson_id for lesson_id in cached if lesson_id not in current]
    if gone:
        session.execute(delete(LessonTotals).where(LessonTotals.lesson_id.in_(gone)))
    counts = _expected(session, [lesson.id for lesson in live]) if expected else {}
    out = {}
    for lesson in lessons:
        if lesson.id in frozen:
            numbers = {key: frozen[lesson.id][key] for key in KEPT}
            count = frozen[lesson.id]["devices_expected"]
        else:
            found = kept.get(lesson.id) if lesson.id in current else None
            numbers = dict(found) if found is not None else totals_of(lesson, [])
            count = counts.get(lesson.id, 0)
        out[lesson.id] = {**numbers, "devices_expected": count} if expected else numbers
    return out


def _fingerprints(session: Session, ids: Sequence[str]) -> dict[str, Fingerprint]:
    if not ids:
        return {}
    s = DeviceLessonSummary
    query = (
        select(s.lesson_id, func.count(), func.max(s.id), func.max(s.received_at))
        .where(s.lesson_id.in_(ids))
        .group_by(s.lesson_id)
    )
    return {
        lesson_id: Fingerprint(count, last_id, last_received_at)
        for lesson_id, count, last_id, last_received_at in session.execute(query)
    }


def _cached(
    session: Session, ids: Sequence[str]
) -> tuple[dict[str, tuple[int, Fingerprint]], dict[str, dict[str, Any]]]:
    """The kept rows: their version and fingerprint, and their numbers."""
    if not ids:
        return {}, {}
    t = LessonTotals
    rows = session.execute(
        select(
            t.lesson_id, t.version, t.summaries, t.last_summary_id, t.last_received_at, t.data
        ).where(t.lesson_id.in_(ids))
    )
    marks: dict[str, tuple[int, Fingerprint]] = {}
    numbers: dict[str, dict[str, Any]] = {}
    for lesson_id, version, count, last_id, last_received_at, data in rows:
        marks[lesson_id] = (version, Fingerprint(count, last_id, last_received_at))
        numbers[lesson_id] = data
    return marks, numbers


def _recompute(session: Session, lessons: Sequence[Lesson]) -> dict[str, dict[str, Any]]:
    """Count the lessons again from their summaries and keep the result with the fingerprint
    of exactly the rows counted, so a change committed meanwhile shows as stale next time."""
    s = DeviceLessonSummary
    rows: dict[str, list[Stored]] = defaultdict(list)
    found = session.execute(
        select(s.lesson_id, s.id, s.device_id, s.received_at, s.summary)
        .where(s.lesson_id.in_([lesson.id for lesson in lessons]))
        .order_by(s.id)
    )
    for lesson_id, row_id, device_id, received_at, summary in found:
        rows[lesson_id].append(Stored(row_id, device_id, received_at, summary))
    out: dict[str, dict[str, Any]] = {}
    values = []
    for lesson in sorted(lessons, key=lambda lesson: lesson.id):  # one lock order on PostgreSQL
        if not rows[lesson.id]:
            continue  # erased since the fingerprints were read
        numbers = totals_of(lesson, rows[lesson.id])
        mark = fingerprint_of(rows[lesson.id])
        out[lesson.id] = numbers
        values.append(
            {
                "lesson_id": lesson.id,
                "version": VERSION,
                "summaries": mark.summaries,
                "last_summary_id": mark.last_id,
                "last_received_at": mark.last_received_at,
                "data": numbers,
            }
        )
    if values:
        _upsert(session, values)
    return out


def _upsert(session: Session, values: list[dict[str, Any]]) -> None:
    insert = pg_insert if is_postgres(session) else sqlite_insert
    table = cast(Table, LessonTotals.__table__)
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["lesson_id"],
        set_={c: statement.excluded[c] for c in values[0] if c != "lesson_id"},
    )
    session.connection().execute(statement, values)


def _expected(session: Session, ids: Sequence[str]) -> dict[str, int]:
    """Per lesson the devices ``lesson_report.live_numbers`` expects, in one grouped query."""
    if not ids:
        return {}
    query = (
        select(Lesson.id, func.count(Device.id))
        .join(
            Device,
            and_(
                Device.group_id == Lesson.group_id,
                Device.retired.is_(False),
                Device.enrolled_at < Lesson.end,
            ),
        )
        .where(Lesson.id.in_(ids))
        .group_by(Lesson.id)
    )
    return dict(session.execute(query).all())
