"""Per-lesson totals: what pages that show many lessons at once (the group trend, the
escalations) read, so a view never decodes thousands of summaries.

A lesson's totals are ``devices_reporting`` and ``categories`` of ``lesson_report.lesson_numbers``,
computed by that function from the stored summaries (one source of truth) and kept in
``lesson_totals`` with the fingerprint of the summaries they came from: how many, the newest
id and the newest ``received_at``. A view compares the fingerprints of all its lessons with the
kept ones in one statement (a grouped read of the indexed ``lesson_id``) and counts again only
the lessons whose fingerprint changed (a late upload, a purge), writing them back. Summaries
are only ever inserted (ids increase) or deleted, so a changed set changes the fingerprint; the
one blind spot would be SQLite reusing the id of the newest row after it was deleted, for a
summary received in the same microsecond, so erasing a device also drops the kept totals of its
lessons (``forget_device``). Lessons past retention read the frozen
``LessonAggregate``; the purge deletes their totals with the summaries. ``devices_expected`` is
counted live, as the report does (devices enrol and retire without a summary changing).

Only devices that can stand for a pupil are counted (``numbers.counted_devices``: enrolled by
the lesson's start, fingerprint not shared), as in the report. Which fingerprints are shared is
read when the totals are counted: retiring a clone later (which lets the other copy count
again) shows once the lesson's summaries change. The lesson's group does not enter the kept
numbers and its start only through that rule, so timetable edits leave them valid unless a
lesson moves across a device's enrolment. Totals are aggregates per lesson, kept unsuppressed
like the frozen numbers; pages suppress small counts when they show them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.db import is_postgres
from service.models import Device, DeviceLessonSummary, Lesson, LessonAggregate, LessonTotals
from service.reports.lesson_report import (
    GroupSpan,
    StoredRow,
    enrolments,
    expected_counts,
    lesson_numbers,
    shared_by_school,
)

# Bump when what is kept changes: rows of another version are recomputed on their next read.
# 2: only the devices that count as a pupil (``numbers.counted_devices``) are counted.
# 3: devices sharing a fingerprint judged within the lesson's own school, as the report does
#    (version 2 pooled the fingerprints of every school in a recount).
VERSION = 3
KEPT = ("devices_reporting", "categories")
# Lesson ids per IN list: well inside SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 1000
# Lessons ``warm`` counts per run: bounded, so one run never holds the database for long.
WARM_LIMIT = 2000


# What the totals need of a lesson: a ``Lesson`` row, or only these columns of it (the trend
# reads ~180 lessons per view, and whole ORM rows cost more than the totals).
LessonSpan = GroupSpan


@dataclass(frozen=True)
class Span:
    id: str
    group_id: int
    start: datetime
    end: datetime


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


def warm(session: Session, *, now: datetime, limit: int = WARM_LIMIT) -> int:
    """Count and keep the totals of up to ``limit`` ended lessons that have summaries but no
    kept totals, newest first; how many. The serve process runs it after each retention purge,
    so the first views after an upgrade (or of lessons nobody opened yet) find their totals
    kept instead of counting thousands of summaries while a teacher waits."""
    reported = exists().where(DeviceLessonSummary.lesson_id == Lesson.id)
    kept = exists().where(LessonTotals.lesson_id == Lesson.id)
    frozen = exists().where(LessonAggregate.lesson_id == Lesson.id)
    rows = session.execute(
        select(Lesson.id, Lesson.group_id, Lesson.start, Lesson.end)
        .where(Lesson.end <= now, reported, ~kept, ~frozen)
        .order_by(Lesson.end.desc())
        .limit(limit)
    ).all()
    spans = [Span(id=r.id, group_id=r.group_id, start=r.start, end=r.end) for r in rows]
    for_lessons(session, spans)
    return len(spans)


def forget_device(session: Session, device_id: str) -> None:
    """Drop the kept totals of every lesson ``device_id`` reported in, before its summaries are
    erased: an erasure leaves no aggregate counting the device behind, even until the next
    view, and it closes the fingerprint's blind spot (a reused newest id) for erasures."""
    lessons = select(DeviceLessonSummary.lesson_id).where(
        DeviceLessonSummary.device_id == device_id
    )
    session.execute(
        delete(LessonTotals).where(LessonTotals.lesson_id.in_(lessons)),
        execution_options={"synchronize_session": False},
    )


def fingerprint_of(rows: Sequence[Stored]) -> Fingerprint:
    """The fingerprint of a non-empty set of summaries, as the grouped read computes it."""
    return Fingerprint(len(rows), max(r.id for r in rows), max(r.received_at for r in rows))


def totals_of(
    lesson: GroupSpan, rows: Sequence[StoredRow], shared: Collection[str] = frozenset()
) -> dict[str, Any]:
    """The kept numbers of one lesson: the report's own numbers (``lesson_numbers``, the one
    place they are made from rows), of which only ``KEPT``; the devices expected are counted
    live, so none are passed."""
    numbers = lesson_numbers(lesson, expected=0, rows=rows, shared=shared)
    return {key: numbers[key] for key in KEPT}


def flagged(numbers: Mapping[str, Any]) -> int:
    """Device-lessons with findings of one lesson's numbers: its largest category count (a
    device counts once however many categories it had), as the trend and the attention list
    count them."""
    return max((c["devices"] for c in numbers["categories"]), default=0)


# --- gather and act --------------------------------------------------------------------------


def for_lessons(
    session: Session, lessons: Sequence[LessonSpan], *, expected: bool = False
) -> dict[str, dict[str, Any]]:
    """Per lesson id ``devices_reporting`` and ``categories`` (and ``devices_expected`` when
    asked), equal to the report's numbers; a fixed number of queries per ``CHUNK`` lessons."""
    out: dict[str, dict[str, Any]] = {}
    frozen_expected: dict[str, int] = {}
    for chunk in _chunks(lessons):
        totals, frozen = _chunk_totals(session, chunk)
        out.update(totals)
        frozen_expected.update(frozen)
    if expected:
        live = [lesson for lesson in lessons if lesson.id not in frozen_expected]
        counts = expected_counts(live, enrolments(session, {lesson.group_id for lesson in live}))
        counts.update(frozen_expected)
        for lesson_id, numbers in out.items():
            numbers["devices_expected"] = counts[lesson_id]
    return out


def _chunks(lessons: Sequence[LessonSpan]) -> Iterator[Sequence[LessonSpan]]:
    for i in range(0, len(lessons), CHUNK):
        yield lessons[i : i + CHUNK]


def _chunk_totals(
    session: Session, lessons: Sequence[LessonSpan]
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The chunk's numbers, and the frozen ``devices_expected`` of its lessons past retention."""
    ids = [lesson.id for lesson in lessons]
    aggregates = select(LessonAggregate.lesson_id, LessonAggregate.data).where(
        _among(LessonAggregate.lesson_id, ids, is_postgres(session))
    )
    frozen: dict[str, dict[str, Any]] = dict(session.execute(aggregates).all())
    live = [lesson for lesson in lessons if lesson.id not in frozen]
    fresh, stale, gone = _kept(session, [lesson.id for lesson in live])
    counted = _recompute(session, [lesson for lesson in live if lesson.id in stale])
    if gone:
        # Totals of lessons whose summaries are all gone (every device erased) go with them.
        session.execute(delete(LessonTotals).where(LessonTotals.lesson_id.in_(gone)))
    out: dict[str, dict[str, Any]] = {}
    for lesson in lessons:
        if lesson.id in frozen:
            out[lesson.id] = {key: frozen[lesson.id][key] for key in KEPT}
        else:
            found = fresh.get(lesson.id) or counted.get(lesson.id)
            out[lesson.id] = dict(found) if found is not None else totals_of(lesson, [])
    return out, {lesson_id: data["devices_expected"] for lesson_id, data in frozen.items()}


def _kept(
    session: Session, ids: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], set[str], list[str]]:
    """In one statement: the kept numbers still fresh, the lessons with summaries whose kept
    numbers are missing or stale, and the kept rows of lessons without summaries. Fingerprints
    are compared in SQL, so no row's times are converted in Python (a view reads ~180 lessons,
    the escalations thousands)."""
    if not ids:
        return {}, set(), []
    s, t = DeviceLessonSummary, LessonTotals
    pg = is_postgres(session)
    fingerprints = (
        select(
            s.lesson_id,
            func.count().label("summaries"),
            func.max(s.id).label("last_id"),
            func.max(s.received_at).label("last_received_at"),
        )
        .where(_among(s.lesson_id, ids, pg))
        .group_by(s.lesson_id)
        .subquery()
    )
    same = and_(
        t.version == VERSION,
        t.summaries == fingerprints.c.summaries,
        t.last_summary_id == fingerprints.c.last_id,
        t.last_received_at == fingerprints.c.last_received_at,
    )
    with_summaries = select(
        fingerprints.c.lesson_id,
        case((same, literal("fresh")), else_=literal("stale")),
        case((same, t.data)),
    ).select_from(
        # The IN list on both sides: else PostgreSQL, which guesses the grouped read far too
        # large, scans the whole table of kept totals to hash-join it.
        fingerprints.outerjoin(
            t, and_(t.lesson_id == fingerprints.c.lesson_id, _among(t.lesson_id, ids, pg))
        )
    )
    without = select(t.lesson_id, literal("gone"), null()).where(
        _among(t.lesson_id, ids, pg), ~exists().where(s.lesson_id == t.lesson_id)
    )
    fresh: dict[str, dict[str, Any]] = {}
    stale: set[str] = set()
    gone: list[str] = []
    for lesson_id, state, data in session.execute(union_all(with_summaries, without)):
        if state == "fresh":
            fresh[lesson_id] = data
        elif state == "stale":
            stale.add(lesson_id)
        else:
            gone.append(lesson_id)
    return fresh, stale, gone


def _among(column: Any, ids: Sequence[str], pg: bool) -> Any:
    """``column IN ids``; on PostgreSQL as one array parameter, since expanding a list into
    hundreds of parameters, three times a statement, cost more than the query itself."""
    if pg:
        return column == any_(bindparam(None, list(ids), type_=ARRAY(String)))
    return column.in_(ids)


def _recompute(session: Session, lessons: Sequence[LessonSpan]) -> dict[str, dict[str, Any]]:
    """Count the lessons again from their summaries and keep the result with the fingerprint
    of exactly the rows counted, so a change committed meanwhile shows as stale next time."""
    if not lessons:
        return {}
    s = DeviceLessonSummary
    rows: dict[str, list[StoredRow]] = defaultdict(list)
    marks: dict[str, list[Stored]] = defaultdict(list)
    school_of: dict[str, int] = {}
    found = session.execute(
        select(
            s.lesson_id,
            s.id,
            s.device_id,
            s.received_at,
            s.summary,
            Device.school_id,
            Device.enrolled_at,
            Device.fingerprint,
        )
        .join(Device, Device.id == s.device_id)
        .where(s.lesson_id.in_([lesson.id for lesson in lessons]))
        .order_by(s.id)
    )
    for lesson_id, row_id, device_id, received_at, summary, school, enrolled, fp in found:
        rows[lesson_id].append(StoredRow(row_id, device_id, summary, enrolled, fp))
        marks[lesson_id].append(Stored(row_id, device_id, received_at, summary))
        school_of[lesson_id] = school  # a lesson's devices are its group's, of one school
    # Per school, as the report judges a lesson by its own school's devices.
    shared = shared_by_school(session, set(school_of.values())) if school_of else {}
    out: dict[str, dict[str, Any]] = {}
    values = []
    for lesson in sorted(lessons, key=lambda lesson: lesson.id):  # one lock order on PostgreSQL
        if not rows[lesson.id]:
            continue  # erased since the fingerprints were read
        numbers = totals_of(lesson, rows[lesson.id], shared.get(school_of[lesson.id], set()))
        mark = fingerprint_of(marks[lesson.id])
        out[lesson.id] = numbers
        values.append(
            {
                "lesson_id": lesson.id,
                "version": VERSION,
                "summaries": mark.summaries,
                "last_summary_id": mark.last_id,
                "last_received_at": mark.last_received_at,
                "data": numbers,
                "devices_reporting": numbers["devices_reporting"],
                "devices_flagged": flagged(numbers),
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
