"""The statements of a report transaction, run on the database driver's own connection.

A group's transaction (``ingest.store``) runs the same statements whatever it holds: one read
(the schools; the lessons with their frozen flag and the windows the devices already stored),
the insert with the delete of those lessons' kept totals, and, only after a conflict, the
owners of report ids that were taken. Through SQLAlchemy's execution layer (compiled-cache
look-up, parameter and result processors, expanding ``IN`` lists rendered per call, events)
each statement cost several times what the database spent running it: a group of 8 single
summaries took 147 µs of CPU a summary on SQLite and 186 on PostgreSQL, 102-110 and 130-140
with the statements on the driver (docs/performance.md, Ingestion). So these few statements
are SQL text for each backend, with constant text (lists go in as one parameter: ``json_each``
on SQLite, an array on PostgreSQL) so both drivers reuse their prepared form; on PostgreSQL
the read's two queries go in one pipeline and the insert deletes the totals in the same
statement. SQLAlchemy still owns the connection and the transaction on SQLite (pool,
``BEGIN IMMEDIATE``, commit); the collector's PostgreSQL groups run on the report writer's own
connection (``on_writer``, ``service.ingest.pg_writer``), two round trips a group.
Values go in and come out as the ORM's types store them: aware UTC datetimes, naive UTC text
on SQLite (``db.UTCDateTime``), JSON text (tests/service/test_ingest_statements.py compares the
rows with rows the ORM wrote).

The insert is ``INSERT ... ON CONFLICT (report_id) DO NOTHING RETURNING report_id``: the unique
report id, not a look-up first, decides which summary is stored. On PostgreSQL the rows go in as
one JSON document through ``json_to_recordset`` (psycopg parses a query of more than 50
parameters anew on every execution, so a multi-row VALUES insert of six or more summaries was
one of the largest costs of a transaction); on SQLite as multi-row VALUES, whose text sqlite3
keeps compiled per row count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple, Protocol

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from policies.wire import LessonSummary
from service.ingest.bounds import Window

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
# SQLite: rows per INSERT, far below its limit of 32,766 parameters (ten a row).
_SQLITE_ROWS = 500


class SchoolRow(NamedTuple):
    id: int
    retention_days: int
    policy_override: str | None


class LessonRow(NamedTuple):
    """A lesson, with whether its numbers are frozen (purged)."""

    id: str
    school_id: int
    group_id: int
    start: datetime
    end: datetime
    frozen: bool


# A lesson, and a window one of the devices already stored for it (device id, window) if any:
# a row per stored window, or one without a window for a lesson with none.
LessonAndWindow = tuple[LessonRow, tuple[str, Window] | None]


def lessons_and_windows(
    rows: Iterable[Sequence[Any]], time: Callable[[Any], datetime]
) -> list[LessonAndWindow]:
    """The lessons query's rows as the checks take them, its times read with ``time``."""
    return [
        (
            LessonRow(lid, school, group, time(start), time(end), bool(frozen)),
            None if rid is None else (device, Window(rid, time(started), time(ended))),
        )
        for lid, school, group, start, end, frozen, device, rid, started, ended in rows
    ]


def postgres_time(value: datetime) -> datetime:
    """A timestamptz as psycopg gives it, in UTC as the ORM reads it."""
    return value.astimezone(UTC)


class Statements(Protocol):
    def read(
        self, school_ids: Iterable[int], lesson_ids: Iterable[str], device_ids: Iterable[str]
    ) -> tuple[list[SchoolRow], list[LessonAndWindow]]:
        """The schools, and the lessons with the windows these devices stored for them."""
        ...

    def insert(self, new: Mapping[str, tuple[LessonSummary, str]], now: datetime) -> set[str]:
        """Insert the summaries (by report id: the summary, its device's id); the report ids
        inserted (one already stored is skipped). The kept totals of the lessons that got a
        summary are dropped with them (``service.reports.totals``): the attention list reads
        kept totals without comparing fingerprints, so a late upload must not leave an old
        count behind; the next view counts the lesson again."""
        ...

    def owners(self, report_ids: Sequence[str]) -> dict[str, str]:
        """The devices that stored these report ids."""
        ...


def on(conn: Connection) -> Statements:
    """The statements for ``conn``'s backend, run in its current transaction."""
    driver, dialect = conn.connection.driver_connection, conn.dialect
    if dialect.name == "postgresql":
        return _Postgres(driver, dialect)
    if dialect.name == "sqlite":
        return _SQLite(driver, dialect)
    raise NotImplementedError(f"no report statements for {dialect.name}")


class _Driver:
    def __init__(self, driver: Any, dialect: Dialect) -> None:
        self.driver = driver
        self.dialect = dialect

    def run(self, sql: str, params: Sequence[object], **options: Any) -> list[Any]:
        """The statement's rows. A driver's error is raised as SQLAlchemy raises it for any
        other statement (``IntegrityError`` and so on, the driver's own as its ``orig``)."""
        error = self.dialect.loaded_dbapi.Error
        try:
            cursor = self.driver.execute(sql, params, **options)
            return [] if cursor.description is None else list(cursor.fetchall())
        except error as exc:
            raise DBAPIError.instance(sql, params, exc, error, dialect=self.dialect) from exc

    def read(
        self, school_ids: Iterable[int], lesson_ids: Iterable[str], device_ids: Iterable[str]
    ) -> tuple[list[SchoolRow], list[LessonAndWindow]]:
        lessons = list(lesson_ids)
        schools, rows = self.run_both(
            (self._SCHOOLS, (self._list(school_ids),), {}),
            (self._LESSONS, (self._list(device_ids), self._list(lessons)), self._PLAN_PER_CALL),
        )
        return [SchoolRow(*row) for row in schools], lessons_and_windows(rows, self._time)

    def run_both(self, *statements: tuple[str, Sequence[object], Mapping[str, Any]]) -> list[Any]:
        """Each statement's rows, in order."""
        return [self.run(sql, params, **options) for sql, params, options in statements]

    def owners(self, report_ids: Sequence[str]) -> dict[str, str]:
        return dict(self.run(self._OWNERS, (self._list(report_ids),)))

    # Set by each backend.
    _SCHOOLS = _LESSONS = _OWNERS = ""
    _PLAN_PER_CALL: ClassVar[Mapping[str, Any]] = {}

    def _list(self, values: Iterable[object]) -> object:
        raise NotImplementedError

    def _time(self, value: Any) -> datetime:
        raise NotImplementedError


def _rows(new: Mapping[str, tuple[LessonSummary, str]]) -> list[tuple[LessonSummary, str]]:
    """In report id order: two transactions inserting overlapping ids (two collector processes'
    groups holding retries of the same batch) then wait for each other in the same order on
    PostgreSQL's unique index instead of deadlocking."""
    return [new[rid] for rid in sorted(new)]


_LESSONS = (
    'SELECT lessons.id, lessons.school_id, lessons.group_id, lessons.start, lessons."end", '
    "lesson_aggregates.lesson_id IS NOT NULL, "
    "stored.device_id, stored.report_id, stored.started_at, stored.ended_at "
    "FROM lessons "
    "LEFT OUTER JOIN lesson_aggregates ON lesson_aggregates.lesson_id = lessons.id "
    "LEFT OUTER JOIN device_lesson_summaries AS stored "
    "ON stored.lesson_id = lessons.id AND stored.device_id {devices} "
    "WHERE lessons.id {lessons}"
)


class _SQLite(_Driver):
    """sqlite3 with qmark parameters; times as ``db.UTCDateTime`` stores them on SQLite."""

    _IN = "IN (SELECT value FROM json_each(?))"
    _SCHOOLS = f"SELECT id, retention_days, policy_override FROM schools WHERE id {_IN}"
    _LESSONS = _LESSONS.format(devices=_IN, lessons=_IN)
    _DROP = f"DELETE FROM lesson_totals WHERE lesson_id {_IN}"
    _OWNERS = f"SELECT report_id, device_id FROM device_lesson_summaries WHERE report_id {_IN}"
    _INSERT = (
        f"INSERT INTO device_lesson_summaries ({', '.join(_COLUMNS)}) VALUES {{values}} "
        "ON CONFLICT (report_id) DO NOTHING RETURNING report_id"
    )
    _ROW = "(" + ", ".join("?" * len(_COLUMNS)) + ")"

    def _list(self, values: Iterable[object]) -> object:
        return json.dumps(list(values))

    def _time(self, value: Any) -> datetime:
        return _read(value)

    def insert(self, new: Mapping[str, tuple[LessonSummary, str]], now: datetime) -> set[str]:
        received = _text(now)
        rows = [_sqlite_row(s, device_id, received) for s, device_id in _rows(new)]
        inserted: set[str] = set()
        for first in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[first : first + _SQLITE_ROWS]
            sql = self._INSERT.format(values=", ".join([self._ROW] * len(chunk)))
            inserted.update(rid for (rid,) in self.run(sql, _flat(chunk)))
        if inserted:
            lessons = sorted({new[rid][0].lesson_id for rid in inserted})
            self.run(self._DROP, (self._list(lessons),))
        return inserted


_PG_TYPES = ("text", "text", "text", *["timestamptz"] * 3, *["integer"] * 3, "json")


def on_writer(driver: Any, dialect: Dialect) -> Statements:
    """The statements on the PostgreSQL writer's own connection (``service.ingest.pg_writer``,
    in autocommit mode): the read opens the transaction and the insert commits it, one round
    trip each."""
    return _PostgresWriter(driver, dialect)


class _Postgres(_Driver):
    """psycopg with ``%s`` parameters: lists go in as arrays, the new rows as one JSON document."""

    _SCHOOLS = "SELECT id, retention_days, policy_override FROM schools WHERE id = ANY(%s)"
    _LESSONS = _LESSONS.format(devices="= ANY(%s)", lessons="= ANY(%s)")
    _OWNERS = "SELECT report_id, device_id FROM device_lesson_summaries WHERE report_id = ANY(%s)"
    # Planned anew for its values every time (not prepared): the generic plan psycopg's
    # prepared statement gets after five runs reads the devices' index for all their stored
    # windows, so a transaction slowed down as the table grew (from 0.3 to 0.8 ms a summary
    # over 24,000 rows, while the same query planned for the values stayed flat).
    _PLAN_PER_CALL: ClassVar[Mapping[str, Any]] = {"prepare": False}
    # The rows in the order of the document, which is report id order (see ``_rows``); the
    # kept totals of the lessons inserted into dropped in the same statement (a data-modifying
    # WITH runs to completion whether or not the outer query reads it).
    _INSERT = (
        "WITH inserted AS ("
        f"INSERT INTO device_lesson_summaries ({', '.join(_COLUMNS)}) "
        f"SELECT {', '.join(_COLUMNS)} FROM ROWS FROM (json_to_recordset(CAST(%s AS json)) AS ("
        + ", ".join(f"{c} {t}" for c, t in zip(_COLUMNS, _PG_TYPES, strict=True))
        + f")) WITH ORDINALITY AS new ({', '.join(_COLUMNS)}, position) ORDER BY position "
        "ON CONFLICT (report_id) DO NOTHING RETURNING report_id, lesson_id), "
        "dropped AS (DELETE FROM lesson_totals WHERE lesson_id IN "
        "(SELECT lesson_id FROM inserted)) "
        "SELECT report_id FROM inserted"
    )

    def run_both(self, *statements: tuple[str, Sequence[object], Mapping[str, Any]]) -> list[Any]:
        """Sent together in psycopg's pipeline mode: one round trip to the server for both
        (and the transaction's BEGIN) instead of one each."""
        error = self.dialect.loaded_dbapi.Error
        try:
            with self.driver.pipeline():
                cursors = [self.driver.execute(sql, p, **o) for sql, p, o in statements]
            return [list(cursor.fetchall()) for cursor in cursors]
        except error as exc:
            sql = "; ".join(sql for sql, _, _ in statements)
            raise DBAPIError.instance(sql, [], exc, error, dialect=self.dialect) from exc

    def _list(self, values: Iterable[object]) -> object:
        return list(values)

    def _time(self, value: Any) -> datetime:
        return postgres_time(value)

    def insert(self, new: Mapping[str, tuple[LessonSummary, str]], now: datetime) -> set[str]:
        return {rid for (rid,) in self.run(self._INSERT, (document(new, now),))}


def document(new: Mapping[str, tuple[LessonSummary, str]], now: datetime) -> str:
    """The new rows as the JSON document the PostgreSQL insert reads."""
    return json.dumps(
        [
            {
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
            for s, device_id in _rows(new)
        ],
        default=_utc_text,
    )


# PostgreSQL's statements as text, for a caller that sends them itself (``pg_loop``).
SCHOOLS_SQL = _Postgres._SCHOOLS
LESSONS_SQL = _Postgres._LESSONS
INSERT_SQL = _Postgres._INSERT
OWNERS_SQL = _Postgres._OWNERS


class _PostgresWriter(_Postgres):
    """The same statements sent as one simple-protocol message per round trip, parameters
    bound by psycopg on the client (``ClientCursor``, escaped by libpq): ``BEGIN; schools;
    lessons`` and ``insert; COMMIT``. psycopg's pipeline mode, the other way to batch, waits
    for the BEGIN's answer before sending the queries and syncs again at its end (four round
    trips a group, seen in libpq's trace; tests/service/test_pg_writer.py counts them). The
    simple protocol plans every query for its values, as the lessons query wants anyway."""

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        super().__init__(driver, dialect)
        self.cursor = dialect.loaded_dbapi.ClientCursor(driver)

    def run_both(self, *statements: tuple[str, Sequence[object], Mapping[str, Any]]) -> list[Any]:
        sql = "; ".join(["BEGIN", *(text for text, _, _ in statements)])
        results = self._each_result(sql, [p for _, params, _ in statements for p in params])
        return results[1:]  # BEGIN's has no rows

    def insert(self, new: Mapping[str, tuple[LessonSummary, str]], now: datetime) -> set[str]:
        (inserted, _commit) = self._each_result(self._INSERT + "; COMMIT", [document(new, now)])
        return {rid for (rid,) in inserted}

    def _each_result(self, sql: str, params: Sequence[object]) -> list[list[Any]]:
        """The rows of each statement in ``sql``, in order ([] for one without rows)."""
        error = self.dialect.loaded_dbapi.Error
        try:
            self.cursor.execute(sql, params)
            results = []
            while True:
                results.append(list(self.cursor.fetchall()) if self.cursor.description else [])
                if not self.cursor.nextset():
                    return results
        except error as exc:
            raise DBAPIError.instance(sql, [], exc, error, dialect=self.dialect) from exc


def _sqlite_row(s: LessonSummary, device_id: str, received: str) -> tuple[object, ...]:
    """The values in ``_COLUMNS`` order."""
    coverage = s.coverage
    return (
        s.report_id,
        device_id,
        s.lesson_id,
        received,
        _text(s.started_at),
        _text(s.ended_at),
        coverage.seconds_monitored,
        coverage.gaps,
        s.dropped,
        json.dumps(s.to_json()),
    )


def _flat(rows: Sequence[tuple[object, ...]]) -> list[object]:
    return [value for row in rows for value in row]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given; the collector stores aware UTC times")
    return value.astimezone(UTC)


def _text(value: datetime) -> str:
    """As SQLAlchemy's SQLite DATETIME stores ``db.UTCDateTime``'s naive UTC value: the text
    the other queries compare with (string order is time order only in this one form)."""
    # isoformat rather than strftime: a fifth of the cost, and it pads a year before 1000 to
    # four digits as SQLAlchemy does, where glibc's %Y would not.
    return _aware(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _read(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _utc_text(value: object) -> str:
    """A time in the PostgreSQL document, with its offset: the server would read a naive time in
    its own time zone, so one is refused here as ``db.UTCDateTime`` refuses it for the ORM."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return _aware(value).isoformat()
