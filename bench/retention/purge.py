"""The retention purge over the lesson report's school year of data (bench/report), timed.

    .venv/bin/python bench/retention/purge.py [--scale 1] [--backends sqlite,postgres]
        [--days 1,5]

The data is the one ``bench/report/report.py`` generates and keeps (2.29 million summaries at
scale 1); run that first. For each ``--days`` N the purge (``service.retention.purge``, as the
collector's purge thread runs it) is timed at the moment N school days' lessons have passed the
school's retention period (28 days after the first school day, plus N days): it freezes those
lessons' numbers and deletes their summaries, from the full table. The dataset's school keeps a
year (so the report benchmark can read it all); for the purge its retention is set to the
default 28 days in the timed transaction, so the table holds far more than 28 days would: a
board's worth. The first purge after a school day is what a collector runs every night; a
larger N is a purge that was held up.

Timings on a machine others share are disturbed, so next to the wall time it prints the CPU
seconds the purge took: this process's (``time.process_time``: on SQLite all the work), and on
PostgreSQL also the server's backend process of the session, read from ``/proc`` (the server
runs on this machine).

Nothing is kept: on PostgreSQL the purge runs in a transaction that is rolled back (the commit
is not timed); on SQLite on a copy of the database file made with SQLite's backup API (so a
report benchmark using the file meanwhile is not blocked), committed, and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from bench.ingest import harness
from bench.report import dataset, report
from service import db
from service.models import DeviceLessonSummary, School
from service.retention import purge

RETENTION_DAYS = 28  # the school's default


def school_day(days: int) -> datetime:
    """The midnight after which the first ``days`` school days are past the retention period."""
    day, left = dataset.FIRST_DAY + timedelta(days=RETENTION_DAYS - 1), days
    while left:
        day += timedelta(days=1)
        left -= day.weekday() < 5
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), dataset.AMSTERDAM)


def sqlite_copy(url: str, folder: str) -> str:
    source = make_url(url).database or ""
    target = str(Path(folder) / "purge.sqlite3")
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float  # this process
    server_cpu: float | None  # PostgreSQL's backend of the session; None on SQLite
    result: purge.PurgeResult
    before: int


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a local process, from ``/proc/PID/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_purge(url: str, now: datetime, keep: bool) -> Timed:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            before = conn.scalar(select(func.count()).select_from(DeviceLessonSummary)) or 0
        with db.session_factory(engine)() as session:
            session.begin()
            # The dataset keeps a year (retention 366 days) so reports can read it all; the
            # purge is timed at the default retention, over the full table.
            session.execute(update(School).values(retention_days=RETENTION_DAYS))
            pg = session.get_bind().dialect.name == "postgresql"
            pid = session.scalar(text("SELECT pg_backend_pid()")) if pg else None
            server = backend_cpu(pid) if pid else 0.0
            began, cpu = time.perf_counter(), time.process_time()
            result = purge.purge(session, now=now.astimezone(UTC))
            session.flush()
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            server_cpu = backend_cpu(pid) - server if pid else None
            if keep:
                session.commit()
            else:
                session.rollback()
        return Timed(elapsed, cpu, server_cpu, result, int(before))
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", default="1,5", help="school days past retention, e.g. 1,5")
    args = parser.parse_args(argv)
    for line in harness.machine_lines():
        print(line)
    rows: list[list[object]] = []
    for backend in args.backends.split(","):
        url = report.database_url(backend, args.scale, drop=False)
        engine = db.make_engine(url)
        try:
            if dataset.existing(engine, args.scale) is None:
                print(f"{backend}: no data at scale {args.scale:g}; run bench/report/report.py")
                return 2
        finally:
            engine.dispose()
        for days in (int(d) for d in args.days.split(",")):
            with tempfile.TemporaryDirectory(prefix="lwpurge-") as folder:
                target = sqlite_copy(url, folder) if backend == "sqlite" else url
                timed = timed_purge(target, school_day(days), backend == "sqlite")
            result, server = timed.result, timed.server_cpu
            rows.append(
                [
                    backend,
                    days,
                    f"{timed.before:,}",
                    f"{result.lessons_frozen:,}",
                    f"{result.summaries_deleted:,}",
                    f"{timed.wall:.2f}",
                    f"{timed.cpu:.2f}",
                    "-" if server is None else f"{server:.2f}",
                    f"{timed.wall / max(result.summaries_deleted, 1) * 1e6:,.0f}",
                ]
            )
            print(harness.table(HEADER, rows[-1:]), flush=True)
    print(harness.table(HEADER, rows))
    print(f"load avg  {harness.load_average()} (1, 5, 15 min) after the run")
    return 0


HEADER = [
    "backend",
    "school days due",
    "summaries stored",
    "lessons frozen",
    "summaries deleted",
    "purge s",
    "CPU s (this process)",
    "CPU s (PostgreSQL)",
    "us per deleted summary",
]

if __name__ == "__main__":
    sys.exit(main())
