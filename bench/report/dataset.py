"""A school year of summaries for the report benchmark, written with bulk inserts (COPY on
PostgreSQL, executemany on SQLite), not through the HTTP API, and kept between runs.

At scale 1: 67 groups of 30 devices (2,010), each group 6 lessons a day, 5 days a week, for
38 weeks from 1 September 2025 (1,140 lessons), every device one summary per lesson: about
2.29 million summaries. ``--scale`` scales the number of groups (at least one). A marker table
``lwbench_marker`` is written last, so a run that was cut off generates the data again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter, sleep
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, inspect, select, text

from service import credentials, db
from service.models import Device, DeviceLessonSummary, Group, Lesson, User
from service.reports import totals as lesson_totals
from service.schools import registry as schools

GROUP_SIZE = 30
FULL_GROUPS = 67
WEEKS = 38
FIRST_DAY = date(2025, 9, 1)  # a Monday
LESSON_MINUTES = 50
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ADMIN = "bench-admin"


def period_starts() -> list[time]:
    return [time(8 + h, 30) for h in range(6)]


@dataclass(frozen=True)
class Dataset:
    url: str
    groups: int
    summaries: int
    admin_token: str
    lesson_ids: list[str]


def lesson_slots(group: int) -> Iterator[tuple[str, datetime, datetime]]:
    """Every lesson of a group over the school year: id, start and end in UTC."""
    for week in range(WEEKS):
        for weekday in range(5):
            day = FIRST_DAY + timedelta(weeks=week, days=weekday)
            for period, at in enumerate(period_starts()):
                start = datetime.combine(day, at, AMSTERDAM).astimezone(UTC)
                lesson_id = f"l_g{group:03d}w{week:02d}d{weekday}p{period}"
                yield lesson_id, start, start + timedelta(minutes=LESSON_MINUTES)


def summary(
    report_id: str, lesson_id: str, start: datetime, end: datetime, n: int
) -> dict[str, Any]:
    """A valid summary; one device in five used Telegram, one in ten TikTok."""
    findings: list[dict[str, Any]] = []
    if n % 5 == 0:
        findings.append(_finding("a1-social-media", "social_media", "telegram", 420, 2))
    if n % 10 == 3:
        findings.append(_finding("a1-social-media", "social_media", "tiktok", 180, 5))
    body = {
        "report_id": report_id,
        "lesson_id": lesson_id,
        "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ended_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "agent_version": "0.1.0",
        "coverage": {
            "seconds_monitored": LESSON_MINUTES * 60 - 60 * (n % 3),
            "samples": 196,
            "gaps": n % 3 and 1,
            "probes": {"processes": "ok", "capture_files": "ok", "camera": "unavailable"},
        },
        "findings": findings,
        "dropped": 0,
    }
    return body


def _finding(rule: str, category: str, family: str, seconds: int, bucket: int) -> dict[str, Any]:
    buckets = [0] * bucket + [300] * (seconds // 300) + ([seconds % 300] if seconds % 300 else [])
    return {
        "rule": rule,
        "article": "A.1",
        "category": category,
        "family": family,
        "seconds": seconds,
        "episodes": 1,
        "first_minute": bucket * 5,
        "buckets": buckets,
    }


def report_id_for(lesson_id: str, device_id: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"{lesson_id}/{device_id}".encode()).digest()[:16]))


def groups_for(scale: float) -> int:
    return max(1, round(FULL_GROUPS * scale))


def existing(engine: Engine, scale: float) -> int | None:
    """The number of summaries of complete data at this scale, or None."""
    if "lwbench_marker" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        row = conn.execute(text("SELECT scale, summaries FROM lwbench_marker")).first()
    return int(row[1]) if row is not None and float(row[0]) == scale else None


def generate(engine: Engine, scale: float, progress: Any = print) -> int:
    """Write the whole data set; the number of summaries."""
    db.migrate(engine)
    now = datetime.now(UTC)
    groups = groups_for(scale)
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        school = schools.school(session)
        # A year of device-level data exists only with a retention that long: set it so.
        school.retention_days = 366
        session.flush()
        school_id = school.id
        for g in range(groups):
            session.add(Group(id=g + 1, school_id=school_id, name=f"G{g:03d}"))
        session.flush()
    total = 0
    for g in range(groups):
        devices = device_ids(g)
        slots = list(lesson_slots(g))
        with engine.begin() as conn:
            conn.execute(
                insert(Device),
                [
                    {
                        "id": d,
                        "school_id": school_id,
                        "group_id": g + 1,
                        "token_hash": credentials.token_hash(d),
                        "label": None,
                        "platform": "linux",
                        "agent_version": "0.1.0",
                        "fingerprint": None,
                        "enrolled_at": datetime(2025, 8, 25, tzinfo=UTC),
                        "last_seen": None,
                        "retired": False,
                    }
                    for d in devices
                ],
            )
            total += _write_lessons(conn, school_id, g, slots)
        if (g + 1) % 10 == 0 or g + 1 == groups:
            progress(f"generated {g + 1}/{groups} groups: {total:,} summaries")
    with sessions.begin() as session:
        school = schools.school(session)
        session.add(
            User(
                school_id=school.id,
                username=ADMIN,
                role="admin",
                password_hash="not-used",
                created_at=now,
            )
        )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        conn.execute(text("CREATE TABLE lwbench_marker (scale TEXT, summaries INTEGER)"))
        conn.execute(
            text("INSERT INTO lwbench_marker VALUES (:s, :n)"), {"s": str(scale), "n": total}
        )
    return total


def device_ids(group: int) -> list[str]:
    return [f"d_g{group:03d}n{n:02d}" for n in range(GROUP_SIZE)]


def _write_lessons(
    conn: Any, school_id: int, group: int, slots: list[tuple[str, datetime, datetime]]
) -> int:
    """The group's lessons and a summary of every device for each; the summaries written."""
    conn.execute(
        insert(Lesson),
        [
            {
                "id": lid,
                "school_id": school_id,
                "group_id": group + 1,
                "teacher_id": None,
                "subject": "wiskunde",
                "room_id": None,
                "start": start,
                "end": end,
                "remote": False,
                "cancelled": False,
            }
            for lid, start, end in slots
        ],
    )
    devices = device_ids(group)
    rows = ((lid, start, end, n, d) for lid, start, end in slots for n, d in enumerate(devices))
    return _write_summaries(conn, rows)


# --- the attention list's recent weeks, written for a run and removed after it ----------------

RECENT_PREFIX = "l_r"
RECENT_DAYS = 10  # school days: two of the attention list's default six weeks


def recent_slots(group: int, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """The group's lessons of the last ten school days before today (school time)."""
    today = now.astimezone(AMSTERDAM).date()
    days: list[date] = []
    day = today
    while len(days) < RECENT_DAYS:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    out = []
    for day in sorted(days):
        for period, at in enumerate(period_starts()):
            start = datetime.combine(day, at, AMSTERDAM).astimezone(UTC)
            lesson_id = f"{RECENT_PREFIX}{group:03d}{day:%Y%m%d}p{period}"
            out.append((lesson_id, start, start + timedelta(minutes=LESSON_MINUTES)))
    return out


def add_recent(engine: Engine, scale: float, now: datetime) -> tuple[int, int]:
    """Lessons of the last two weeks for every group, with summaries: (lessons, summaries)."""
    remove_recent(engine)
    lessons = summaries = 0
    with engine.begin() as conn:
        school_id = conn.execute(text("SELECT id FROM schools")).scalar_one()
        for g in range(groups_for(scale)):
            slots = recent_slots(g, now)
            summaries += _write_lessons(conn, school_id, g, slots)
            lessons += len(slots)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE lessons"))
    return lessons, summaries


def remove_recent(engine: Engine) -> None:
    """Remove what ``add_recent`` wrote, totals included; the year's data stays as it was."""
    like = {"p": RECENT_PREFIX + "%"}
    with engine.begin() as conn:
        for table in ("lesson_totals", "device_lesson_summaries"):
            conn.execute(text(f"DELETE FROM {table} WHERE lesson_id LIKE :p"), like)
        conn.execute(text("DELETE FROM lessons WHERE id LIKE :p"), like)


# --- per-lesson totals ------------------------------------------------------------------------


def clear_totals(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lesson_totals"))


def fill_totals(engine: Engine, scale: float) -> tuple[int, float]:
    """Every lesson's totals, counted as a first view would count them, a group per
    transaction: the number of lessons and the seconds spent in those transactions."""
    sessions = db.session_factory(engine)
    done, busy = 0, 0.0
    for g in range(groups_for(scale)):
        began = perf_counter()
        with sessions.begin() as session:
            rows = session.scalars(select(Lesson).where(Lesson.group_id == g + 1)).all()
            lesson_totals.for_lessons(session, rows)
            done += len(rows)
        busy += perf_counter() - began
        if engine.dialect.name == "sqlite":
            # Each transaction holds SQLite's one write lock: a pause lets the collector's own
            # writers (audit lines, its background jobs) in, whose busy handler retries every
            # 100 ms at most; without it one of them once waited out its 30 s and logged it.
            sleep(0.2)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE lesson_totals"))
    return done, busy


def _write_summaries(conn: Any, rows: Iterator[tuple[str, datetime, datetime, int, str]]) -> int:
    count = 0
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        columns = (
            "report_id, device_id, lesson_id, received_at, started_at, ended_at, "
            "seconds_monitored, gaps, dropped, summary"
        )
        with cursor.copy(f"COPY device_lesson_summaries ({columns}) FROM STDIN") as copy:
            for lid, start, end, n, dev in rows:
                rid = report_id_for(lid, dev)
                body = json.dumps(summary(rid, lid, start, end, n), separators=(",", ":"))
                copy.write_row(
                    (rid, dev, lid, end, start, end, LESSON_MINUTES * 60, n % 3 and 1, 0, body)
                )
                count += 1
        return count
    batch: list[dict[str, Any]] = []
    for lid, start, end, n, dev in rows:
        rid = report_id_for(lid, dev)
        batch.append(
            {
                "report_id": rid,
                "device_id": dev,
                "lesson_id": lid,
                "received_at": end,
                "started_at": start,
                "ended_at": end,
                "seconds_monitored": LESSON_MINUTES * 60,
                "gaps": n % 3 and 1,
                "dropped": 0,
                "summary": summary(rid, lid, start, end, n),
            }
        )
        if len(batch) >= 20_000:
            conn.execute(insert(DeviceLessonSummary), batch)
            count += len(batch)
            batch.clear()
    if batch:
        conn.execute(insert(DeviceLessonSummary), batch)
        count += len(batch)
    return count
