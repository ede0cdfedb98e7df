"""The shipped migrations: they build exactly the models, running them again is harmless, and
the ones that move data carry the rows of an older collector."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, select, text, update

from service import db
from service.models import (
    AuditEntry,
    Base,
    Device,
    DeviceLessonSummary,
    Group,
    Lesson,
    LessonTotals,
    School,
    SchoolHoliday,
    User,
)
from service.timetable_store import holidays
from tests.support.clock import LESSON_END, LESSON_START, utc
from tests.support.collector import summary


def test_migrations_match_the_models_and_rerun_cleanly(empty_db_url: str) -> None:
    """After migrating (twice) the database has every table and column the models declare."""
    engine = db.make_engine(empty_db_url)
    try:
        db.migrate(engine)
        db.migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_newest_revision_read_without_alembic_is_alembics_own() -> None:
    """``db.script_heads`` reads the revision lines itself so a command skips importing alembic
    when the database is there already; alembic's own reading of the scripts must agree."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("service") / "migrations"))
    assert db.script_heads() == set(ScriptDirectory.from_config(config).get_heads())


def test_a_command_on_a_migrated_database_does_not_import_alembic(tmp_path: Path) -> None:
    """A command that writes migrates first; when there is nothing to do it costs no alembic
    import."""
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    probe = (
        "import sys; from service.cli.main import main; "
        f"main(['schools', 'add', sys.argv[1], '--db', {url!r}]); "
        "print(sorted(m for m in ('alembic', 'mako') if m in sys.modules))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe, name], capture_output=True, text=True, check=True
        ).stdout.split("\n")[-2]
        for name in ("First", "Second")
    ]
    assert runs == ["['alembic', 'mako']", "[]"]  # the first run created the schema


def _upgrade(engine: Engine, revision: str) -> None:
    """Migrate to ``revision`` the way ``db.migrate`` migrates to the newest."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("service") / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _rows_before_0007(conn: Connection, schools: list[str]) -> None:
    """A collector at 0006: the schools, a user, a lesson and a device in each, and a stored
    holiday. Written with the 0006 columns only (the models have more)."""
    for n, name in enumerate(schools, start=1):
        conn.execute(
            text(
                "INSERT INTO schools (id, name, timezone, retention_days, disclosure, "
                "small_count_threshold, holiday_advised, admin_disclosure) VALUES "
                "(:id, :name, 'Europe/Amsterdam', 28, 'aggregate', 3, :yes, 'aggregate')"
            ),
            {"id": n, "name": name, "yes": True},
        )
        conn.execute(insert(Group.__table__).values(id=n, school_id=n, name="3B"))
        conn.execute(
            insert(User.__table__).values(
                id=n,
                school_id=n,
                username=f"user{n}",
                role="teacher",
                password_hash="x",
                created_at=LESSON_START,
            )
        )
        conn.execute(
            insert(Lesson.__table__).values(
                id=f"l_{n}", school_id=n, group_id=n, start=LESSON_START, end=LESSON_END
            )
        )
        conn.execute(
            insert(Device.__table__).values(
                id=f"d_{n}",
                school_id=n,
                group_id=n,
                token_hash=f"{n}" * 64,
                platform="linux",
                agent_version="0.1.0",
                enrolled_at=LESSON_START,
            )
        )
    conn.execute(
        insert(SchoolHoliday.__table__).values(
            region="midden",
            schoolyear="2026-2027",
            name="Kerstvakantie",
            first_day=date(2026, 12, 19),
            last_day=date(2027, 1, 3),
            compulsory=True,
        )
    )


# (actor, object) of entries written before 0007, and the school 0007 gives each, with two
# schools on the collector: the first of its rules that names one wins.
BACKFILL = [
    (("user:user1", None), 1),  # the user who acted
    (("cli", "lesson:l_2"), 2),  # the lesson it is about
    (("device:d_2", None), 2),  # the device that acted (its enrolment)
    (("cli", "device:d_1"), 1),  # the device it is about
    (("cli", "user:user2"), 2),  # the user it is about
    (("cli", "school:1"), 1),  # the school it is about
    (("user:user2", "lesson:l_1"), 2),  # the actor comes first
    (("user:nobody", None), None),  # a sign-in under an unknown name: no school's
]


@pytest.mark.parametrize("schools", [["Een", "Twee"], ["Alleen"]])
def test_0007_and_0008_carry_the_rows_of_a_collector_at_0006(
    empty_db_url: str, schools: list[str]
) -> None:
    """From 0006 with rows present: 0007 gives each audit entry the school it names (on a
    collector with one school, that school); 0008 keeps the stored holidays as the shared
    reference every school reads, and gives every school a year of audit log."""
    engine = db.make_engine(empty_db_url)
    # With one school only the entry that names nobody is left to the one-school rule.
    entries = [row for row, school in BACKFILL if len(schools) == 2 or school is None]
    try:
        _upgrade(engine, "0006")
        with engine.begin() as conn:
            _rows_before_0007(conn, schools)
            for actor, obj in entries:
                conn.execute(
                    text(
                        "INSERT INTO audit_log (at, actor, action, object) "
                        "VALUES (:at, :actor, 'x', :object)"
                    ),
                    {"at": LESSON_START.replace(tzinfo=None), "actor": actor, "object": obj},
                )
        db.migrate(engine)
        with db.session_factory(engine).begin() as session:
            found = [
                ((e.actor, e.object), e.school_id)
                for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            ]
            if len(schools) == 2:
                assert found == BACKFILL
            else:
                assert found == [(("user:nobody", None), 1)]
            assert [s.audit_retention_days for s in session.scalars(select(School))] == [365] * len(
                schools
            )
            (holiday,) = session.scalars(select(SchoolHoliday)).all()
            assert holiday.school_id is None
            for n in range(1, len(schools) + 1):
                seen = holidays.stored(session, school_id=n, region="midden")
                assert [h.name for h in seen] == ["Kerstvakantie"]
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_0010_deletes_the_summaries_that_no_longer_parse(empty_db_url: str) -> None:
    """From 0009 with a readable summary and a year-1 one as the old collector wrote it back
    (``1-01-01T00:00:00Z``): 0010 deletes the unreadable row and the kept totals of its lesson,
    and keeps the readable one."""
    engine = db.make_engine(empty_db_url)
    good = summary("l_1")
    poisoned = summary("l_1")
    poisoned["started_at"], poisoned["ended_at"] = "1-01-01T00:00:00Z", "1-01-01T00:50:00Z"
    try:
        _upgrade(engine, "0009")
        with engine.begin() as conn:
            _rows_before_0007(conn, ["Een"])
            for row_id, item in ((1, good), (2, poisoned)):
                conn.execute(
                    insert(DeviceLessonSummary.__table__).values(
                        id=row_id,
                        report_id=item["report_id"],
                        device_id="d_1",
                        lesson_id="l_1",
                        received_at=LESSON_END,
                        started_at=LESSON_START,
                        ended_at=LESSON_END,
                        seconds_monitored=0,
                        gaps=0,
                        dropped=0,
                        summary=item,
                    )
                )
            conn.execute(
                insert(LessonTotals.__table__).values(
                    lesson_id="l_1",
                    version=1,
                    summaries=2,
                    last_summary_id=2,
                    last_received_at=LESSON_END,
                    data={},
                )
            )
        db.migrate(engine)
        with engine.connect() as conn:
            kept = conn.execute(select(DeviceLessonSummary.__table__.c.report_id)).scalars()
            assert list(kept) == [good["report_id"]]
            assert conn.execute(select(LessonTotals.__table__.c.lesson_id)).all() == []
    finally:
        engine.dispose()


def test_0012_gives_every_school_its_own_key_and_keeps_last_seen_as_a_day(
    empty_db_url: str,
) -> None:
    """From 0011 with two schools in two time zones: 0012 gives each its own random key and cuts
    every last_seen to the start of the day it fell on in its school's zone."""
    engine = db.make_engine(empty_db_url)
    seen = {
        # 22:40 in Amsterdam: that day began at 23:00 UTC the day before
        "d_1": (utc(21, 40), utc(23, days=-1)),
        # 22:10 the evening before in New York, although the 25th in UTC
        "d_2": (utc(3, 10, days=1), utc(5)),
    }
    try:
        _upgrade(engine, "0011")
        with engine.begin() as conn:
            _rows_before_0007(conn, ["Een", "Twee"])
            conn.execute(text("UPDATE schools SET timezone = 'America/New_York' WHERE id = 2"))
            devices = Device.__table__
            for device_id, (moment, _) in seen.items():
                conn.execute(
                    update(devices).where(devices.c.id == device_id).values(last_seen=moment)
                )
        db.migrate(engine)
        with engine.connect() as conn:
            keys = conn.execute(select(School.__table__.c.fingerprint_key)).scalars().all()
            stored = {
                r.id: r.last_seen for r in conn.execute(select(devices.c.id, devices.c.last_seen))
            }
        assert len(set(keys)) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)
        assert stored == {device_id: day for device_id, (_, day) in seen.items()}
    finally:
        engine.dispose()
