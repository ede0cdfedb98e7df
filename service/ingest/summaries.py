"""Storing batches of lesson summaries, one or several devices' at once, with a result per item.

Idempotency rests on the unique ``report_id`` column, not on looking first: the new items go
in with one ``INSERT ... ON CONFLICT (report_id) DO NOTHING RETURNING report_id`` (both
backends), and only the items the insert did not return are looked up: stored before, or
meanwhile by another request (in this or another collector process), by this device (a
duplicate) or another (rejected). One executemany per transaction rather than a savepoint per
item: a batch of 50 took about 100 ms on PostgreSQL with savepoints and 17 ms like this
(bench/ingest). A transaction costs the same few statements (the schools, the lessons with their
frozen flag, the insert) for one batch or a group of them (``service.group_commit``). They run
on the driver's connection inside the caller's transaction (``service.ingest.statements``):
they load no ORM objects, and SQLAlchemy's execution layer cost more CPU than the statements.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeGuard

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from policies.wire import LessonSummary, WireError, parse_summary
from service.ingest import bounds, statements
from service.ingest.bounds import Window
from service.ingest.statements import LessonRow, SchoolRow
from service.schools import policy as policy_cache

log = logging.getLogger("lessonwatch.service")

Status = Literal["accepted", "duplicate", "rejected"]


class DeviceRef(Protocol):
    """The sending device as ingestion needs it: a ``Device`` row or a cached ``ActiveDevice``."""

    @property
    def id(self) -> str: ...
    @property
    def school_id(self) -> int: ...
    @property
    def group_id(self) -> int: ...


@dataclass(frozen=True)
class ItemResult:
    report_id: str | None
    status: Status
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"report_id": self.report_id, "status": self.status, "reason": self.reason}


def _report_id_of(item: Any) -> str | None:
    """The item's report id if it is a well-formed UUID (never echo arbitrary input back)."""
    raw = item.get("report_id") if isinstance(item, dict) else None
    if not isinstance(raw, str) or len(raw) != 36:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def lesson_problem(
    lesson: LessonRow | None,
    device: DeviceRef,
    school: SchoolRow,
    *,
    future: timedelta,
    now: datetime,
) -> str | None:
    """Why a summary for ``lesson`` from ``device`` cannot be stored, or None if it can."""
    if lesson is None:
        return "lesson does not exist"
    if lesson.school_id != device.school_id or lesson.group_id != device.group_id:
        return "lesson belongs to another group"
    if lesson.start > now + future:
        return "lesson starts too far in the future"
    if lesson.frozen or lesson.end < now - timedelta(days=school.retention_days):
        return "lesson is past the retention period; its device-level data is purged"
    return None


@dataclass(frozen=True)
class Parsed:
    """One request's batch after the wire format's checks, before the database's."""

    device: DeviceRef
    entries: list[LessonSummary | ItemResult]


def parse_batch(device: DeviceRef, items: Sequence[Any]) -> Parsed:
    """Check every item's wire format (pure): a summary, or a rejection with its reason."""
    entries: list[LessonSummary | ItemResult] = []
    for item in items:
        try:
            entries.append(parse_summary(item))
        except WireError as exc:
            entries.append(ItemResult(_report_id_of(item), "rejected", str(exc)))
        except Exception:
            # A parser bug must cost this item only: the batch shares a group commit with
            # other devices' requests (docs/api.md).
            log.exception("a summary could not be parsed")
            entries.append(ItemResult(_report_id_of(item), "rejected", bounds.UNREADABLE))
    return Parsed(device, entries)


def ingest_batch(
    session: Session,
    *,
    device: DeviceRef,
    items: Sequence[Any],
    now: datetime,
    future_tolerance: timedelta,
    most_per_lesson: int = bounds.MAX_SUMMARIES_PER_LESSON,
) -> list[ItemResult]:
    batches = [parse_batch(device, items)]
    return store(
        session.connection(),
        batches,
        now=now,
        future_tolerance=future_tolerance,
        most_per_lesson=most_per_lesson,
    )[0]


def store(
    conn: Connection,
    batches: Sequence[Parsed],
    *,
    now: datetime,
    future_tolerance: timedelta,
    most_per_lesson: int = bounds.MAX_SUMMARIES_PER_LESSON,
) -> list[list[ItemResult]]:
    """Store several requests' batches in the caller's transaction on ``conn``, with the
    results each would have had alone, one after another in this order: a report id twice in
    the group is stored for the first item; a later item is its duplicate (same device) or
    rejected (another)."""
    return store_with(
        statements.on(conn),
        batches,
        now=now,
        future_tolerance=future_tolerance,
        most_per_lesson=most_per_lesson,
    )


def store_with(
    sql: statements.Statements,
    batches: Sequence[Parsed],
    *,
    now: datetime,
    future_tolerance: timedelta,
    most_per_lesson: int = bounds.MAX_SUMMARIES_PER_LESSON,
) -> list[list[ItemResult]]:
    """``store`` with these statements (gather, decide, act): the read, the pure decision,
    the insert, and the owners of report ids the insert found taken."""
    school_rows, lesson_rows = sql.read(*reading(batches))
    decided, new = decide(
        batches,
        school_rows,
        lesson_rows,
        now=now,
        future_tolerance=future_tolerance,
        most_per_lesson=most_per_lesson,
    )
    inserted = sql.insert(new, now) if new else set()
    owner = {rid: device_id for rid, (_, device_id) in new.items() if rid in inserted}
    if taken := [rid for rid in new if rid not in inserted]:
        owner |= sql.owners(taken)
    return answers(batches, decided, inserted, owner)


def reading(batches: Sequence[Parsed]) -> tuple[set[int], list[str], list[str]]:
    """What a group's one read asks for: the schools, the lessons of every summary that passed
    the wire format's checks (some of which the school's policy may still refuse), and the
    devices whose stored windows count."""
    return (
        {b.device.school_id for b in batches},
        sorted({e.lesson_id for b in batches for e in b.entries if _is_summary(e)}),
        sorted({b.device.id for b in batches}),
    )


Decided = list[list["ItemResult | LessonSummary | _Repeat"]]


def decide(
    batches: Sequence[Parsed],
    school_rows: Sequence[SchoolRow],
    lesson_rows: Sequence[statements.LessonAndWindow],
    *,
    now: datetime,
    future_tolerance: timedelta,
    most_per_lesson: int,
) -> tuple[Decided, dict[str, tuple[LessonSummary, str]]]:
    """Every item's fate before the insert (pure): its result, or the summary to insert; and
    the new summaries by report id with their device's id."""
    schools: dict[int, SchoolRow] = {row.id: row for row in school_rows}
    checked = [_policy_checked(b, schools[b.device.school_id]) for b in batches]
    lessons, sent = _lessons_and_windows(lesson_rows)
    # Decide every item; the new ones are inserted together afterwards. No look-up of stored
    # report ids first: the insert skips them, and only those are looked up (``lost``).
    decided: list[list[ItemResult | LessonSummary | _Repeat]] = []
    new: dict[str, tuple[LessonSummary, str]] = {}  # by report id: the summary, its device's id
    for batch, entries in zip(batches, checked, strict=True):
        device = batch.device
        out: list[ItemResult | LessonSummary | _Repeat] = []
        decided.append(out)
        for entry in entries:
            if isinstance(entry, ItemResult):
                out.append(entry)
                continue
            problem = lesson_problem(
                lessons.get(entry.lesson_id),
                device,
                schools[device.school_id],
                future=future_tolerance,
                now=now,
            )
            if problem is not None:
                out.append(ItemResult(entry.report_id, "rejected", problem))
            elif entry.report_id in new:
                # Earlier in this batch or group: stored once; this one is answered as a retry
                # of it, against whoever turns out to own the report id.
                out.append(_Repeat(entry.report_id))
            elif problem := bounds.summary_problem(
                entry,
                lesson_start=lessons[entry.lesson_id].start,
                lesson_end=lessons[entry.lesson_id].end,
                sent=sent[(device.id, entry.lesson_id)],
                most=most_per_lesson,
            ):
                out.append(ItemResult(entry.report_id, "rejected", problem))
            else:
                new[entry.report_id] = (entry, device.id)
                sent[(device.id, entry.lesson_id)].append(
                    Window(entry.report_id, entry.started_at, entry.ended_at)
                )
                out.append(entry)
    return decided, new


def answers(
    batches: Sequence[Parsed],
    decided: Decided,
    inserted: set[str],
    owner: dict[str, str],
) -> list[list[ItemResult]]:
    """Each batch's results once the insert has said which report ids it stored."""
    return [
        [_result(item, batch.device, inserted, owner) for item in out]
        for batch, out in zip(batches, decided, strict=True)
    ]


@dataclass(frozen=True)
class _Repeat:
    """A report id already taken by an earlier item of the same batch or group."""

    report_id: str


def _is_summary(entry: LessonSummary | ItemResult) -> TypeGuard[LessonSummary]:
    return isinstance(entry, LessonSummary)


def _lessons_and_windows(
    rows: Sequence[statements.LessonAndWindow],
) -> tuple[dict[str, LessonRow], defaultdict[tuple[str, str], list[Window]]]:
    """What the checks need of each lesson, with whether its numbers are frozen, and the
    windows the devices already stored for these lessons, per (device, lesson)."""
    lessons: dict[str, LessonRow] = {}
    sent: defaultdict[tuple[str, str], list[Window]] = defaultdict(list)
    for lesson, stored in rows:
        lessons.setdefault(lesson.id, lesson)
        if stored is not None:
            device_id, window = stored
            sent[(device_id, lesson.id)].append(window)
    return lessons, sent


def _policy_checked(batch: Parsed, school: SchoolRow) -> list[LessonSummary | ItemResult]:
    policy = policy_cache.for_school(school)
    entries: list[LessonSummary | ItemResult] = []
    for entry in batch.entries:
        if isinstance(entry, LessonSummary):
            try:
                policy.check(entry)
            except WireError as exc:
                entry = ItemResult(entry.report_id, "rejected", str(exc))
        entries.append(entry)
    return entries


def _result(
    item: ItemResult | LessonSummary | _Repeat,
    device: DeviceRef,
    inserted: set[str],
    owner: dict[str, str],
) -> ItemResult:
    if isinstance(item, ItemResult):
        return item
    if isinstance(item, LessonSummary) and item.report_id in inserted:
        return ItemResult(item.report_id, "accepted")
    if item.report_id in owner:
        return _existing(item.report_id, owner[item.report_id], device)
    # Neither inserted nor stored: cannot happen with a unique column; refuse loudly.
    raise RuntimeError(f"report {item.report_id} was neither stored nor found")


def _existing(report_id: str, owner: str, device: DeviceRef) -> ItemResult:
    if owner == device.id:
        return ItemResult(report_id, "duplicate")
    return ItemResult(report_id, "rejected", "report_id was already used by another device")
