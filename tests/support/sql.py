"""The SQL a real engine runs, recorded through SQLAlchemy's cursor events (no mock)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def recorded(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    """Every statement sent to the database while the block runs, in order (an executemany
    or a transaction's BEGIN counts as one)."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def touching(statements: list[str], table: str) -> list[str]:
    """The statements that name ``table`` (as ``FROM``/``INTO``/``UPDATE``/``JOIN`` target)."""
    marks = (f"FROM {table}", f"INTO {table}", f"UPDATE {table}", f"JOIN {table}")
    return [s for s in statements if any(m in s for m in marks)]


@contextmanager
def sent_by_driver(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    """Every statement the database driver itself sends while the block runs, in order: also
    those run on the driver's connection past SQLAlchemy (``service.ingest.statements``), which
    its cursor events do not see. SQLite's own trace callback on each connection checked out
    (it sees ``BEGIN`` and ``COMMIT`` too); on PostgreSQL a psycopg cursor class that notes each
    query before psycopg sends it."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    seen: list[str] = []

    def note(statement: str) -> None:
        seen.append(" ".join(statement.split()))

    if engine.dialect.name == "sqlite":

        def watch(dbapi_connection: Any) -> None:
            dbapi_connection.set_trace_callback(note)

        def unwatch(dbapi_connection: Any) -> None:
            dbapi_connection.set_trace_callback(None)

    else:
        import psycopg

        class Noted(psycopg.Cursor[Any]):
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                note(query if isinstance(query, str) else repr(query))
                return super().execute(query, *args, **kwargs)

            def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                note(query if isinstance(query, str) else repr(query))
                return super().executemany(query, *args, **kwargs)

        def watch(dbapi_connection: Any) -> None:
            dbapi_connection.cursor_factory = Noted

        def unwatch(dbapi_connection: Any) -> None:
            dbapi_connection.cursor_factory = psycopg.Cursor

    def checkout(dbapi_connection: Any, *_args: Any) -> None:
        watch(dbapi_connection)

    def checkin(dbapi_connection: Any, *_args: Any) -> None:
        unwatch(dbapi_connection)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


T = TypeVar("T")


def client_messages(connection: Any, act: Callable[[], T]) -> tuple[T, list[str]]:
    """What ``act`` returned, and the protocol messages a psycopg ``connection`` sent to the
    server while it ran, from libpq's own trace (``Query`` for a simple-protocol message,
    ``Parse``/``Bind``/``Execute``/``Sync`` for the extended protocol; a round trip ends with
    a ``Query`` or a ``Sync``)."""
    from psycopg.pq import Trace

    with tempfile.TemporaryFile("w+") as trace:
        pgconn = connection.pgconn
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            result = act()
        finally:
            pgconn.untrace()
        trace.flush()
        os.fsync(trace.fileno())
        trace.seek(0)
        lines = trace.read().splitlines()
    return result, [line.split("\t")[2] for line in lines if line[:2] == "F\t"]
