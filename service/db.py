"""Engines, sessions and migrations for SQLite (embedded, WAL) and PostgreSQL (shared).

On SQLite every transaction starts with ``BEGIN IMMEDIATE``: one writer at a time, so a read
that later writes can never fail half-way on a lock upgrade, and SAVEPOINTs work (pysqlite's
own transaction handling is switched off, as the SQLAlchemy pysqlite docs recommend).

``connect_now`` is for the event loop, which must never wait: a connection only if one is free
at this moment, and a transaction only if SQLite's write lock is free too (ingestion stores
small groups there; ``service.ingest.intake``).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

# SQLite's busy timeout: how long a transaction waits for another's write lock, except in
# ``connect_now``, which does not wait.
BUSY_TIMEOUT_MS = 30_000
# SQLite's default: a commit that leaves more than this many pages in the write-ahead log
# copies them back into the database (a checkpoint).
WAL_AUTOCHECKPOINT_PAGES = 1000

# Arbitrary but fixed: every collector process uses the same keys for the same job.
MIGRATION_LOCK = 734_1001
PURGE_LOCK = 734_1002


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both backends."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the collector stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    pool: dict[str, Any] = {}
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Every transaction takes the write lock (BEGIN IMMEDIATE), so a second connection in
        # the same process could only wait for it in SQLite's busy handler, which sleeps in
        # steps of up to 100 ms: queueing on one pooled connection instead cut the ingestion
        # benchmark's p99 from about 950 ms to 170 ms at the same rate (bench/ingest).
        pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
        pool["poolclass"] = _NoWaitQueuePool
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# Set only around ``connect_now``'s checkout, in its own context: other threads keep waiting.
_NO_WAIT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lessonwatch_no_wait", default=False
)


class _NoWaitQueuePool(QueuePool):
    """QueuePool whose checkout gives up at once, rather than after ``pool_timeout``, in a
    context that says so (``connect_now``): QueuePool reads ``_timeout`` on every checkout."""

    @property
    def _timeout(self) -> float:
        return 0.0 if _NO_WAIT.get() else self._wait_seconds

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._wait_seconds = value


def can_connect_now(engine: Engine) -> bool:
    """Whether ``connect_now`` can ever give this engine a connection (SQLite files)."""
    return isinstance(engine.pool, _NoWaitQueuePool)


@contextlib.contextmanager
def connect_now(engine: Engine) -> Iterator[Connection | None]:
    """A connection in a transaction that took no waiting to start, committed at the end of the
    block (rolled back on an error); None if that would have meant waiting: for the pool's
    connection, or for SQLite's write lock (another process's transaction, a checkpoint).

    Only SQLite file databases (one pooled connection, ``_NoWaitQueuePool``) can say so; on
    other engines it is always None, and the caller waits elsewhere (a worker thread)."""
    if not can_connect_now(engine):
        yield None
        return
    token = _NO_WAIT.set(True)
    try:
        conn = engine.connect()
    except PoolTimeout:
        conn = None
    finally:
        _NO_WAIT.reset(token)
    if conn is None:
        yield None
        return
    with conn:
        driver = conn.connection.driver_connection
        assert driver is not None  # a checked-out connection has one
        # No automatic checkpoint at this commit: it writes the WAL back and syncs the file
        # (15-18 ms for SQLite's 1,000 pages here), and the caller is the event loop: the
        # caller checkpoints on a thread instead (``checkpoint``).
        driver.execute("PRAGMA wal_autocheckpoint=0")
        try:
            driver.execute("PRAGMA busy_timeout=0")
            try:
                transaction = conn.begin()  # BEGIN IMMEDIATE: fails at once if locked
            except OperationalError:
                transaction = None
            finally:
                driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if transaction is None:
                yield None
            else:
                with transaction:
                    yield conn
        finally:
            driver.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")


def checkpoint(engine: Engine) -> None:
    """Copy a SQLite database's write-ahead log back into it as far as no reader needs it
    (PASSIVE: waits for no one), as SQLite's automatic checkpoint would have; on a thread."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # On the driver: through SQLAlchemy the statement would begin a transaction first,
            # and a connection inside a transaction cannot checkpoint.
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    return bind.dialect.name == "postgresql"


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def script_heads() -> set[str]:
    """The newest revisions of ``migrations/versions``: those no other revision builds on.

    Read from the files' ``revision``/``down_revision`` lines, without alembic: a command that
    finds the database already there imports neither alembic nor the template engine and
    syntax highlighter it brings (about half a second of every command's start).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (resources.files("service") / "migrations" / "versions").iterdir():
        if not path.name.endswith(".py"):
            continue
        for name, value in _REVISION.findall(path.read_text()):
            found = set(re.findall(r"[\"']([^\"']+)[\"']", value))
            (revisions if name == "revision" else parents).update(found)
    return revisions - parents


def applied_revisions(engine: Engine) -> set[str] | None:
    """The migrations applied to the database; None when it was never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def has_schema(engine: Engine) -> bool:
    """Whether the database was ever migrated: a command that only reads needs one that was."""
    return applied_revisions(engine) is not None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe when several processes start at once."""
    if applied_revisions(engine) == script_heads():
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("service") / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held to the end of this transaction, so a second process waits, then finds head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


@contextlib.contextmanager
def job_lock(session: Session, key: int) -> Iterator[bool]:
    """True when this process may run the job; on PostgreSQL only one process at a time may.

    The lock is transaction-scoped: it is released when the caller's transaction ends.
    """
    if not is_postgres(session):
        yield True
        return
    got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar()
    yield bool(got)
