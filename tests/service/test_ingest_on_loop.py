"""Small report groups stored by the event loop itself when SQLite is free (``db.connect_now``),
and by a worker thread whenever that would mean waiting: the loop never waits for a lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from service import db
from service.devices import registry as devices
from service.ingest.intake import Intake
from service.models import DeviceLessonSummary
from tests.support.clock import FakeClock
from tests.support.collector import World, enrol, finding, summary
from tests.support.waiting import loop_ticks


def _engine(tmp_path: Path) -> db.Engine:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def _settings(conn: db.Connection) -> tuple[int, int]:
    driver = conn.connection.driver_connection
    assert driver is not None
    return (
        driver.execute("PRAGMA busy_timeout").fetchone()[0],
        driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
    )


def _declined_at_once(engine: db.Engine) -> None:
    began = time.monotonic()
    with db.connect_now(engine) as conn:
        assert conn is None
    assert time.monotonic() - began < 1.0  # pool_timeout is 60 s, the busy timeout 30 s


def test_connect_now_gives_a_transaction_that_commits(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with db.connect_now(engine) as conn:
        assert conn is not None and conn.in_transaction()
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(RuntimeError), db.connect_now(engine) as conn:
        assert conn is not None
        conn.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("rolled back")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [1]
        # What it changed for its own transaction is back as every other transaction has it.
        assert _settings(conn) == (db.BUSY_TIMEOUT_MS, db.WAL_AUTOCHECKPOINT_PAGES)
    engine.dispose()


def test_connect_now_does_not_wait_for_the_pools_connection(tmp_path: Path) -> None:
    """Another thread holds the one pooled connection: None at once, not after pool_timeout."""
    engine = _engine(tmp_path)
    held = engine.connect()
    try:
        _declined_at_once(engine)
    finally:
        held.close()
    with db.connect_now(engine) as conn:
        assert conn is not None
    engine.dispose()


def test_connect_now_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """Another connection (another process, the command line) holds SQLite's write lock: None
    at once instead of the busy timeout's 30 s, and the pooled connection waits as before."""
    engine = _engine(tmp_path)
    other = sqlite3.connect(str(tmp_path / "c.sqlite3"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        _declined_at_once(engine)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with engine.connect() as conn:
        assert _settings(conn) == (db.BUSY_TIMEOUT_MS, db.WAL_AUTOCHECKPOINT_PAGES)
    engine.dispose()


def test_connect_now_is_never_offered_on_postgresql() -> None:
    engine = db.make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with db.connect_now(engine) as conn:
        assert conn is None
    engine.dispose()


def test_checkpoint_writes_back_what_the_loops_commits_left_in_the_log(tmp_path: Path) -> None:
    """The loop's commits skip SQLite's automatic checkpoint; ``checkpoint`` (on a thread)
    copies every frame back, so the log does not grow without end."""
    engine = _engine(tmp_path)
    for _ in range(30):
        with db.connect_now(engine) as conn:
            assert conn is not None
            conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(40000))")
    probe = sqlite3.connect(str(tmp_path / "c.sqlite3"), isolation_level=None)
    try:
        # No checkpoint ran yet: hundreds of frames are in the log (about ten per commit).
        busy, frames, _ = probe.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()
        assert frames > db.WAL_AUTOCHECKPOINT_PAGES // 4
        db.checkpoint(engine)
        busy, frames, done = probe.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()
        assert busy == 0 and done == frames
    finally:
        probe.close()
    engine.dispose()


def test_reports_are_stored_on_the_loop_when_free_and_by_a_thread_while_locked(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, intake: Intake
) -> None:
    """Free: the group is stored on the loop (SQLite only). Write lock held elsewhere: the
    group goes to a worker thread, which waits for it, while the loop keeps running."""
    engine = sessions.kw["bind"]
    with sessions.begin() as session:
        key = devices.token_key(enrol(session, world.code_3b, clock()).token)
    with sessions.begin() as session:
        device = devices.active_devices(session, [key], clock())[key]

    async def send(count: int) -> tuple[list[str], int]:
        items = [[summary(world.lesson_3b, [finding()])] for _ in range(count)]
        async with loop_ticks() as ticks:
            results = await asyncio.gather(*(intake.store(device, i) for i in items))
        return [r.status for batch in results for r in batch], ticks[0]

    statuses, _ = asyncio.run(send(3))
    assert statuses == ["accepted"] * 3
    on_sqlite = engine.dialect.name == "sqlite"
    assert intake.writes.groups_here == (1 if on_sqlite else 0)

    if on_sqlite:
        other = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.5, lambda: other.execute("ROLLBACK"))
        release.start()
        try:
            statuses, ticks = asyncio.run(send(2))
        finally:
            release.join()
            other.close()
        assert statuses == ["accepted"] * 2
        assert intake.writes.groups_here == 1, "the locked group went to a thread"
        assert ticks >= 20, "the event loop kept running while the thread waited"
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == (
            5 if on_sqlite else 3
        )
