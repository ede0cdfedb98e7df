"""The durable queue of lesson summaries, in one SQLite file in the state directory.

A summary is committed here, with the report id it got when it was created, before any upload
is tried; a row leaves only when the collector answered for it. WAL with ``synchronous=FULL``
makes every committed row survive ``kill -9`` and power loss. The queue is bounded: when it is
full (or a row is older than ``max_age``) the oldest rows are dropped and counted, and the count
rides along in the next summary's ``dropped``. The running lesson's partial summary is
checkpointed in the same file at every sample, so a crash loses at most one sample.

A file that is not a readable SQLite database is moved aside and recreated: the agent keeps
running, and IT finds the damaged file next to the new one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.config import move_aside
from policies.wire import LessonSummary

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    report_id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    not_before REAL NOT NULL,
    parked TEXT
);
CREATE TABLE IF NOT EXISTS running (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    report_id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    report_id: str
    body: str


def _ts(value: datetime) -> float:
    return value.timestamp()


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 2000,
        max_age: timedelta = timedelta(days=30),
    ):
        self.path = path
        self.max_rows = max_rows
        self.max_age = max_age
        self._lock = threading.Lock()
        self._db = self._open()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            db.close()
            raise sqlite3.DatabaseError("quick_check failed")
        db.executescript(_SCHEMA)
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    move_aside(side)
            moved = move_aside(self.path)
            log.error(
                "outbox %s is damaged (%s); moved aside to %s and started a new one",
                self.path,
                exc,
                moved.name,
            )
            return self._connect()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _meta(self, key: str, default: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _drop(self, now: datetime, room_for: int) -> None:
        old = self._db.execute(
            "DELETE FROM queue WHERE created_at < ?", (_ts(now - self.max_age),)
        ).rowcount
        count = self._db.execute("SELECT count(*) FROM queue").fetchone()[0]
        excess = count + room_for - self.max_rows
        full = 0
        if excess > 0:
            full = self._db.execute(
                "DELETE FROM queue WHERE report_id IN "
                "(SELECT report_id FROM queue ORDER BY created_at, report_id LIMIT ?)",
                (excess,),
            ).rowcount
        if old or full:
            log.warning("outbox full or stale: dropped %d old and %d oldest summaries", old, full)
            self._set_meta("dropped", str(int(self._meta("dropped", "0")) + old + full))

    def enqueue(
        self, build: Callable[[int], LessonSummary], *, now: datetime, not_before: datetime
    ) -> LessonSummary:
        """Commit a summary (built with the drop count it must report) and clear the checkpoint.

        One transaction: after a crash either the checkpoint or the queued summary exists, never
        both and never neither.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._drop(now, room_for=1)
                summary = build(int(self._meta("dropped", "0")))
                self._db.execute(
                    "INSERT INTO queue (report_id, lesson_id, body, created_at, not_before) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        summary.report_id,
                        summary.lesson_id,
                        json.dumps(summary.to_json(), separators=(",", ":")),
                        _ts(now),
                        _ts(not_before),
                    ),
                )
                self._set_meta("dropped", "0")
                self._db.execute("DELETE FROM running WHERE report_id = ?", (summary.report_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return summary

    def checkpoint(self, state: dict[str, Any], now: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO running (slot, report_id, state, updated_at) "
                "VALUES (1, ?, ?, ?)",
                (state["report_id"], json.dumps(state), _ts(now)),
            )

    def running(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM running WHERE slot = 1").fetchone()
        return json.loads(row[0]) if row else None

    def discard_running(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM running")

    def due(self, now: datetime, *, limit: int = 500, max_bytes: int = 900_000) -> list[Row]:
        """The oldest rows whose upload time has come, at most ``limit`` and ``max_bytes``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT report_id, body FROM queue WHERE not_before <= ? AND parked IS NULL "
                "ORDER BY created_at, report_id LIMIT ?",
                (_ts(now), limit),
            ).fetchall()
        batch: list[Row] = []
        size = 0
        for report_id, body in rows:
            size += len(body) + 1
            if batch and size > max_bytes:
                break
            batch.append(Row(report_id, body))
        return batch

    def next_due(self) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT min(not_before) FROM queue WHERE parked IS NULL"
            ).fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row and row[0] is not None else None

    def delete(self, report_ids: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany(
                "DELETE FROM queue WHERE report_id = ?", [(r,) for r in report_ids]
            )

    def park(self, report_ids: Iterable[str], reason: str) -> None:
        """Keep rows the collector refused as a whole (a 4xx other than 401 or 429), unsent."""
        with self._lock:
            self._db.executemany(
                "UPDATE queue SET parked = ? WHERE report_id = ?",
                [(reason[:200], r) for r in report_ids],
            )

    def counts(self) -> dict[str, int]:
        with self._lock:
            queued, parked = self._db.execute(
                "SELECT count(*), count(parked) FROM queue"
            ).fetchone()
            return {"queued": queued, "parked": parked, "dropped": int(self._meta("dropped", "0"))}

    def note_contact(self, at: datetime, session: datetime) -> None:
        """Remember when the agent last talked to the collector and when that run of contacts
        began: a restart must not add a contact outside the school day (``schedule.plan``)."""
        with self._lock:  # one statement: one commit
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?), (?, ?)",
                ("last_contact", at.isoformat(), "contact_session", session.isoformat()),
            )

    def contact(self) -> tuple[datetime | None, datetime | None]:
        """The last contact with the collector and the start of its run of contacts."""
        with self._lock:
            raw = (self._meta("last_contact", ""), self._meta("contact_session", ""))
        try:
            last, session = (datetime.fromisoformat(x) if x else None for x in raw)
        except ValueError:
            return None, None
        return last, session

    def remember_sent(self, bodies: Sequence[str], now: datetime) -> None:
        """Keep, for ``explain``, every summary sent of the last lesson one was sent for."""
        with self._lock:
            kept = self._sent_of_last_lesson()
            for body in bodies:
                lesson = _lesson_of(body)
                if not kept or _lesson_of(kept[-1][0]) != lesson:
                    kept = []
                kept = [k for k in kept if k[0] != body] + [(body, now.isoformat())]
            self._set_meta("last_lesson_sent", json.dumps(kept))

    def last_lesson_sent(self) -> list[tuple[str, str]]:
        """Every summary sent of the last lesson, each verbatim with when it was sent."""
        with self._lock:
            return self._sent_of_last_lesson()

    def _sent_of_last_lesson(self) -> list[tuple[str, str]]:
        raw = self._meta("last_lesson_sent", "")
        if raw:
            return [(str(body), str(at)) for body, at in json.loads(raw)]
        body = self._meta("last_sent", "")  # an outbox from before this kept one summary
        return [(body, self._meta("last_sent_at", ""))] if body else []


def _lesson_of(body: str) -> object:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("lesson_id") if isinstance(data, dict) else None
