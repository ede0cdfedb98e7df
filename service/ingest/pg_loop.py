"""PostgreSQL report groups stored from the event loop, on a non-blocking connection.

On a worker thread a group waited mostly for the GIL: 4-5 ms from its start on the loop to its
first line on the thread, then 2.5-3.5 ms for 1.7 ms of CPU, winning the GIL back from the busy
loop after every round trip; the collector sat idle a fifth of the time and single summaries
stayed near 0.4 of ``/healthz`` (docs/performance.md, Ingestion). psycopg's own asyncio path
cost more CPU than the thread. A group is only two messages (``statements.on_writer``), so this
module sends them itself with libpq's non-blocking calls and lets the loop wake it when the
answer is in: the loop does the group's CPU work between other requests and never waits.

The steps, each run by the loop when the socket is readable:

1. send ``BEGIN; schools; lessons`` (client-side bound by psycopg, as the writer does);
2. on its answer: ``summaries.decide`` (pure), then send ``insert; COMMIT`` (or ``COMMIT``);
3. on its answer: if the insert skipped report ids, send the owners' look-up;
4. on its answer: the results (``summaries.answers``).

Anything unexpected (an error from the server, a broken connection, a bug) closes this
connection and gives the group back to the worker thread's path (``PostgresWriter`` through
``group_commit``), which handles a failing batch alone and is what ran before; a group whose
COMMIT had reached the server is then answered ``duplicate``, as an agent's retry would be.
Connecting blocks, so it happens on a worker thread; groups go the thread's way until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from psycopg import ClientCursor, Connection, adapt, pq
from sqlalchemy import Engine

from service.ingest import statements
from service.ingest import summaries as ingest
from service.ingest.pg_writer import new_connection
from service.ingest.statements import SchoolRow

log = logging.getLogger("lessonwatch.service")

Results = list[list[ingest.ItemResult]]


class LoopWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection[Any] | None = None
        self._connecting = False
        self._busy = False
        self._closed = False  # by ``close``: a connection made after it is closed at once
        self._lock = threading.Lock()  # ``_conn`` is set on the connecting thread
        self.connections = 0  # made so far, for tests

    def start(
        self,
        batches: Sequence[ingest.Parsed],
        *,
        now: datetime,
        future_tolerance: timedelta,
        most_per_lesson: int,
    ) -> asyncio.Future[Results | None] | None:
        """The group under way from the loop: a future of its results, or of None if it must
        go to the worker thread after all; None now if it cannot start (not connected yet)."""
        loop = asyncio.get_running_loop()
        if self._conn is None or self._busy:
            if self._conn is None and not self._connecting:
                self._connecting = True
                task = asyncio.ensure_future(anyio.to_thread.run_sync(self._connect))
                task.add_done_callback(self._connected)
            return None
        done: asyncio.Future[Results | None] = loop.create_future()
        group = _Group(self._conn, batches, now, future_tolerance, most_per_lesson)
        self._busy = True
        _Exchange(loop, self._conn, group.first(), group.next, lambda out: self._end(done, out))
        return done

    def close(self) -> None:
        """For good (the app's end): also a connection still being made is closed."""
        with self._lock:
            self._closed = True
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _connect(self) -> None:
        conn = new_connection(self._engine)
        conn.pgconn.nonblocking = 1
        with self._lock:
            if self._closed:
                conn.close()
            else:
                self._conn = conn
                self.connections += 1

    def _connected(self, task: asyncio.Future[None]) -> None:
        self._connecting = False
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("the report writer could not connect: %s", error)

    def _end(self, done: asyncio.Future[Results | None], outcome: Results | BaseException) -> None:
        self._busy = False
        if isinstance(outcome, BaseException):
            log.info(
                "a report group goes to the worker thread after %s: %s",
                type(outcome).__name__,
                str(outcome).splitlines()[0][:200] if str(outcome) else "",
            )
            with self._lock:
                self._drop()  # its state is unknown: a new connection for the next group
            outcome_or_none: Results | None = None
        else:
            outcome_or_none = outcome
        if not done.done():
            done.set_result(outcome_or_none)


class _Group:
    """The group's steps: what to send first, and given each answer, what to send next or
    the results. Pure but for psycopg's client-side binding (``mogrify``)."""

    def __init__(
        self,
        conn: Connection[Any],
        batches: Sequence[ingest.Parsed],
        now: datetime,
        future_tolerance: timedelta,
        most_per_lesson: int,
    ) -> None:
        self.sql = ClientCursor(conn)
        self.batches = batches
        self.now = now
        self.limits = (future_tolerance, most_per_lesson)
        self.decided: ingest.Decided = []
        self.new: dict[str, tuple[Any, str]] = {}
        self.inserted: set[str] = set()
        self.step = "read"

    def first(self) -> str:
        schools, lessons, devices = ingest.reading(self.batches)
        return "; ".join(
            [
                "BEGIN",
                self.sql.mogrify(statements.SCHOOLS_SQL, (list(schools),)),
                self.sql.mogrify(statements.LESSONS_SQL, (list(devices), list(lessons))),
            ]
        )

    def next(self, results: list[list[tuple[Any, ...]]]) -> str | Results:
        """The next message to send, or the group's results."""
        if self.step == "read":
            _begin, schools, lessons = results
            self.decided, self.new = ingest.decide(
                self.batches,
                [SchoolRow(*row) for row in schools],
                statements.lessons_and_windows(lessons, statements.postgres_time),
                now=self.now,
                future_tolerance=self.limits[0],
                most_per_lesson=self.limits[1],
            )
            if not self.new:
                self.step = "commit"
                return "COMMIT"
            self.step = "insert"
            document = statements.document(self.new, self.now)
            return self.sql.mogrify(statements.INSERT_SQL, (document,)) + "; COMMIT"
        if self.step == "insert":
            self.inserted = {rid for (rid,) in results[0]}
        owner = {rid: device for rid, (_, device) in self.new.items() if rid in self.inserted}
        taken = [rid for rid in self.new if rid not in self.inserted]
        if self.step in ("insert", "commit") and taken:
            self.step = "owners"
            return self.sql.mogrify(statements.OWNERS_SQL, (taken,))
        if self.step == "owners":
            owner |= dict(results[0])
        return ingest.answers(self.batches, self.decided, self.inserted, owner)


class _Exchange:
    """Send a message, collect every result of it when the loop says the socket is readable,
    and go on with ``then`` until it gives the results; ``end`` gets them or the exception."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: Connection[Any],
        message: str,
        then: Callable[[list[list[tuple[Any, ...]]]], str | Results],
        end: Callable[[Results | BaseException], None],
    ) -> None:
        self.loop, self.conn, self.pg = loop, conn, conn.pgconn
        self.fd = self.pg.socket
        self.then, self.end = then, end
        self.results: list[pq.abc.PGresult] = []
        self._send(message)

    def _send(self, message: str) -> None:
        try:
            self.results = []
            self.pg.send_query(message.encode(self.conn.info.encoding))
            if self.pg.flush():  # more to write than the socket took: finish when writable
                self.loop.add_writer(self.fd, self._writable)
            self.loop.add_reader(self.fd, self._readable)
        except BaseException as exc:
            self._fail(exc)

    def _writable(self) -> None:
        try:
            if not self.pg.flush():
                self.loop.remove_writer(self.fd)
        except BaseException as exc:
            self._fail(exc)

    def _readable(self) -> None:
        try:
            self.pg.consume_input()
            while not self.pg.is_busy():
                result = self.pg.get_result()
                if result is None:  # every result of the message is in
                    self.loop.remove_reader(self.fd)
                    self._answered()
                    return
                if result.status == pq.ExecStatus.FATAL_ERROR:
                    message = result.error_message.decode(self.conn.info.encoding, "replace")
                    raise RuntimeError(f"the server refused a report group: {message}")
                self.results.append(result)
        except BaseException as exc:
            self._fail(exc)

    def _answered(self) -> None:
        rows = []
        for result in self.results:
            loader = adapt.Transformer(self.conn)
            loader.set_pgresult(result)
            rows.append(loader.load_rows(0, result.ntuples, tuple))
        following = self.then(rows)
        if isinstance(following, str):
            self._send(following)
        else:
            self.end(following)

    def _fail(self, exc: BaseException) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.fd)
            self.loop.remove_writer(self.fd)
        self.end(exc)
