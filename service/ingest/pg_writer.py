"""The report group transactions of one collector process on PostgreSQL, on a connection of
their own.

Through the engine's pool every group cost two round trips besides its own statements: the
pool's pre-ping at checkout and the COMMIT; on this project's test machine a round trip costs
the client about 100 µs of CPU (the driver's Python and the system calls), on the worker thread
that shares the GIL with the event loop. The combiner runs one group at a time, so one
connection kept by this writer serves them all: a group is then two round trips, ``BEGIN`` with
the read and the insert with ``COMMIT``, each one message (``statements.on_writer``).

There is no pre-ping: a connection that broke meanwhile (a server restart, an idle timeout on
the way) is found by the group that uses it. The writer then drops it and runs the group once
more on a new connection; if the break came after the COMMIT was sent, the rows it stored are
found again and answered ``duplicate``, as an agent's own retry would be (group_commit).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from service.ingest import statements
from service.ingest import summaries as ingest

log = logging.getLogger("lessonwatch.service")
IDLE = TransactionStatus.IDLE


def new_connection(engine: Engine) -> Connection[Any]:
    """A connection of the report writers' own, with the engine's connection arguments (host,
    database, options such as search_path), in autocommit: the statements say BEGIN and COMMIT
    themselves, in the same message as the queries (``statements.on_writer``)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    return Connection.connect(*args, **{**kwargs, "autocommit": True})


class PostgresWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self._connection: Any = None
        self._lock = threading.Lock()  # one group at a time (the combiner's rule, held here)
        self.connections = 0  # made so far, for tests

    def store(
        self,
        batches: Sequence[ingest.Parsed],
        *,
        now: datetime,
        future_tolerance: timedelta,
        most_per_lesson: int,
    ) -> list[list[ingest.ItemResult]]:
        """``summaries.store`` for these batches in one transaction, committed on return."""
        with self._lock:
            for attempt in (1, 2):
                fresh = self._connection is None
                conn = self._connect()
                try:
                    results = ingest.store_with(
                        statements.on_writer(conn, self._dialect),
                        batches,
                        now=now,
                        future_tolerance=future_tolerance,
                        most_per_lesson=most_per_lesson,
                    )
                    if conn.info.transaction_status != IDLE:
                        conn.execute("COMMIT")  # nothing was inserted: the read's transaction
                    return results
                except DBAPIError as exc:
                    if not self._drop_if_broken(conn) or fresh or attempt == 2:
                        raise
                    log.warning(
                        "the report writer's connection broke (%s); trying again on a new one",
                        type(exc.orig).__name__,
                    )
                except BaseException:
                    self._drop_if_broken(conn)
                    raise
            raise AssertionError("unreachable")

    @property
    def connection(self) -> Any:
        """The connection the next group will use, if one is open (for tests and diagnostics)."""
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _connect(self) -> Any:
        if self._connection is None:
            self._connection = new_connection(self._engine)
            self.connections += 1
        return self._connection

    def _drop_if_broken(self, conn: Any) -> bool:
        """Roll back a failed transaction; a connection that cannot is dropped. True if the
        connection was broken (the group may be worth another try on a new one)."""
        if not conn.broken and not conn.closed:
            try:
                if conn.info.transaction_status != IDLE:
                    conn.execute("ROLLBACK")
                return False
            except self._dialect.loaded_dbapi.Error:
                pass
        self._connection = None
        with contextlib.suppress(self._dialect.loaded_dbapi.Error):
            conn.close()
        return True
