"""The insert of a transaction's new summaries, one statement whatever their number.

``INSERT ... ON CONFLICT (report_id) DO NOTHING RETURNING report_id`` on both backends: the
unique report id, not a look-up first, decides which summary is stored (``ingest.store``).

On PostgreSQL the rows go in as one JSON document, one parameter, that the server turns back
into rows (``json_to_recordset``): the statement's text is the same for every group, so psycopg
converts it once. SQLAlchemy's multi-row VALUES form ("insertmanyvalues") has ten parameters a
row, and psycopg parses a query of more than 50 parameters anew on every execution (a group of
6 single summaries already has 60), one of the largest CPU costs of a group's transaction; one
array per column instead cost about as much in psycopg's escaping of each array element
(docs/performance.md, Ingestion). On SQLite the multi-row VALUES form stays: sqlite3 keeps the
compiled statement per text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from policies.wire import LessonSummary
from service.models import DeviceLessonSummary

_TABLE = cast(Table, DeviceLessonSummary.__table__)
_COLUMNS = (
    "report_id",
    "device_id",
    "lesson_id",
    "received_at",
    "started_at",
    "ended_at",
    "seconds_monitored",
    "gaps",
    "dropped",
    "summary",
)
_PG_TYPES = ("text", "text", "text", *["timestamptz"] * 3, *["integer"] * 3, "json")
# The rows in the order of the document, which is report id order (see ``insert_new``).
_INSERT_PG = text(
    f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) "
    f"SELECT {', '.join(_COLUMNS)} FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS ("
    + ", ".join(f"{c} {t}" for c, t in zip(_COLUMNS, _PG_TYPES, strict=True))
    + f")) WITH ORDINALITY AS new ({', '.join(_COLUMNS)}, position) ORDER BY position "
    "ON CONFLICT (report_id) DO NOTHING RETURNING report_id"
)
_INSERT_SQLITE = (
    sqlite_insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["report_id"])
    .returning(_TABLE.c.report_id)
)


def insert_new(
    conn: Connection, new: Mapping[str, tuple[LessonSummary, str]], now: datetime
) -> set[str]:
    """Insert the summaries (by report id: the summary and its device's id); the report ids
    actually inserted (a conflicting one is skipped).

    In report id order: two transactions inserting overlapping ids (two collector processes'
    groups holding retries of the same batch) then wait for each other in the same order on
    PostgreSQL's unique index instead of deadlocking."""
    if not new:
        return set()
    rows = [_row(summary, device_id, now) for _, (summary, device_id) in sorted(new.items())]
    if conn.dialect.name == "postgresql":
        document = json.dumps(rows, default=_utc_text)
        return set(conn.execute(_INSERT_PG, {"rows": document}).scalars())
    # A Core executemany: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues") in
    # batches within SQLite's parameter limit, from one cached compiled statement.
    return set(conn.execute(_INSERT_SQLITE, rows).scalars())


def _row(s: LessonSummary, device_id: str, now: datetime) -> dict[str, Any]:
    return {
        "report_id": s.report_id,
        "device_id": device_id,
        "lesson_id": s.lesson_id,
        "received_at": now,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "seconds_monitored": s.coverage.seconds_monitored,
        "gaps": s.coverage.gaps,
        "dropped": s.dropped,
        "summary": s.to_json(),
    }


def _utc_text(value: object) -> str:
    """A time in the document, with its offset: the server would read a naive time in its own
    time zone, so one is refused here as ``db.UTCDateTime`` refuses it for the ORM."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    if value.tzinfo is None:
        raise ValueError("naive datetime given; the collector stores aware UTC times")
    return value.isoformat()
