"""The outbox: committed before upload, deleted only when answered, bounded with a count."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.outbox import Outbox
from policies.wire import Coverage, LessonSummary, parse_summary

T0 = datetime(2026, 11, 24, 9, 20, tzinfo=UTC)


def make(dropped: int, lesson: str = "l_1") -> LessonSummary:
    return LessonSummary(
        report_id=str(uuid.uuid4()),
        lesson_id=lesson,
        started_at=T0 - timedelta(minutes=50),
        ended_at=T0,
        agent_version="0.1.0",
        coverage=Coverage(3000, 200, 0, {"processes": "ok"}),
        findings=(),
        dropped=dropped,
    )


def test_summary_is_committed_and_due_after_its_time(tmp_path: Path) -> None:
    """A queued summary is stored verbatim and only handed out once its upload time has come."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    summary = box.enqueue(make, now=T0, not_before=T0 + timedelta(seconds=60))
    assert box.due(T0 + timedelta(seconds=59)) == []
    (row,) = box.due(T0 + timedelta(seconds=60))
    assert row.report_id == summary.report_id
    assert parse_summary(json.loads(row.body)) == summary
    box.delete([row.report_id])
    assert box.counts() == {"queued": 0, "parked": 0, "dropped": 0}


def test_rows_survive_reopening(tmp_path: Path) -> None:
    """What was committed is there after the file is closed and opened again."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    ids = {box.enqueue(make, now=T0, not_before=T0).report_id for _ in range(3)}
    box.close()
    again = Outbox(tmp_path / "outbox.v1.sqlite")
    assert {r.report_id for r in again.due(T0)} == ids


def test_full_queue_drops_oldest_and_reports_the_count(tmp_path: Path) -> None:
    """A full queue drops the oldest rows, and the next summary carries how many were dropped."""
    box = Outbox(tmp_path / "outbox.v1.sqlite", max_rows=3)
    first = [box.enqueue(make, now=T0 + timedelta(seconds=i), not_before=T0) for i in range(3)]
    fourth = box.enqueue(make, now=T0 + timedelta(seconds=10), not_before=T0)
    fifth = box.enqueue(make, now=T0 + timedelta(seconds=11), not_before=T0)
    assert fourth.dropped == 1 and fifth.dropped == 1
    remaining = [r.report_id for r in box.due(T0 + timedelta(seconds=20))]
    assert remaining == [first[2].report_id, fourth.report_id, fifth.report_id]
    assert box.counts()["dropped"] == 0  # reported, so reset


def test_rows_are_kept_for_fourteen_days_offline(tmp_path: Path) -> None:
    """Summaries wait at least 14 days for the collector; only a month-old row is dropped."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    old = box.enqueue(make, now=T0, not_before=T0)
    later = T0 + timedelta(days=14)
    box.enqueue(make, now=later, not_before=later)
    assert old.report_id in {r.report_id for r in box.due(later)}
    much_later = T0 + timedelta(days=31)
    newest = box.enqueue(make, now=much_later, not_before=much_later)
    assert newest.dropped == 1
    assert old.report_id not in {r.report_id for r in box.due(much_later)}


def test_batches_respect_count_and_size(tmp_path: Path) -> None:
    """A batch holds at most the given number of rows and bytes, oldest first."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    ids = [
        box.enqueue(make, now=T0 + timedelta(seconds=i), not_before=T0).report_id for i in range(10)
    ]
    assert [r.report_id for r in box.due(T0 + timedelta(minutes=1), limit=4)] == ids[:4]
    size = len(box.due(T0 + timedelta(minutes=1))[0].body)
    assert len(box.due(T0 + timedelta(minutes=1), max_bytes=size * 3 + 3)) == 3


def test_checkpoint_and_enqueue_are_one_transaction(tmp_path: Path) -> None:
    """Committing the summary clears its checkpoint in the same transaction."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    rid = str(uuid.uuid4())
    box.checkpoint({"report_id": rid, "lesson_id": "l_1"}, T0)
    assert box.running() == {"report_id": rid, "lesson_id": "l_1"}

    def build(dropped: int) -> LessonSummary:
        s = make(dropped)
        return LessonSummary(
            rid,
            s.lesson_id,
            s.started_at,
            s.ended_at,
            s.agent_version,
            s.coverage,
            s.findings,
            s.dropped,
        )

    box.enqueue(build, now=T0, not_before=T0)
    assert box.running() is None

    def failing(dropped: int) -> LessonSummary:
        raise RuntimeError(f"boom after {dropped} dropped")

    box.checkpoint({"report_id": "x", "lesson_id": "l_2"}, T0)
    with pytest.raises(RuntimeError):
        box.enqueue(failing, now=T0, not_before=T0)
    assert box.running() == {"report_id": "x", "lesson_id": "l_2"}  # rolled back, nothing lost


def test_parked_rows_are_kept_but_not_sent(tmp_path: Path) -> None:
    """Rows the collector refused as a whole stay in the file and are not offered again."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    rid = box.enqueue(make, now=T0, not_before=T0).report_id
    box.park([rid], "HTTP 422")
    assert box.due(T0) == []
    assert box.counts() == {"queued": 1, "parked": 1, "dropped": 0}


def test_file_is_durable_wal(tmp_path: Path) -> None:
    """The outbox runs in WAL mode, so a committed row survives a crash of the process."""
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    box.enqueue(make, now=T0, not_before=T0)
    mode = (
        sqlite3.connect(tmp_path / "outbox.v1.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    )
    assert mode == "wal"


@pytest.mark.parametrize(
    "damage", [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_damaged_file_is_moved_aside_and_recreated(
    tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged outbox file is renamed with a timestamp, a new one is made, the agent goes on."""
    path = tmp_path / "outbox.v1.sqlite"
    path.write_bytes(damage)
    with caplog.at_level(logging.ERROR):
        box = Outbox(path)
    assert "is damaged" in caplog.text and "moved aside" in caplog.text
    (moved,) = tmp_path.glob("outbox.v1.sqlite.corrupt-*")
    assert moved.read_bytes() == damage
    box.enqueue(make, now=T0, not_before=T0)
    assert box.counts()["queued"] == 1


def test_every_summary_of_the_last_lesson_is_kept_for_explain(tmp_path: Path) -> None:
    """A batch holding several summaries (a restart mid-lesson makes two for one lesson), sent
    in one or several uploads: all of the last lesson are kept, verbatim; a later lesson's
    summary replaces them."""
    box = Outbox(tmp_path / "outbox.sqlite3")
    t = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def body(lesson: str, n: int) -> str:
        return f'{{"lesson_id":"{lesson}","report_id":"r{n}","findings":[]}}'

    box.remember_sent([body("l_1", 1), body("l_2", 2)], t)
    box.remember_sent([body("l_2", 3)], t + timedelta(minutes=1))
    box.remember_sent([body("l_2", 3)], t + timedelta(minutes=2))  # sent again: once
    assert box.last_lesson_sent() == [
        (body("l_2", 2), t.isoformat()),
        (body("l_2", 3), (t + timedelta(minutes=2)).isoformat()),
    ]
    box.remember_sent([body("l_3", 4)], t + timedelta(hours=1))
    assert [b for b, _ in box.last_lesson_sent()] == [body("l_3", 4)]
    box.close()
