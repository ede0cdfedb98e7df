"""Fixtures for the collector: every storage test runs on SQLite and on the real PostgreSQL.

PostgreSQL tests get a schema of their own (dropped afterwards), so they stay independent and
can run next to other engineers' tests in the same database. When PostgreSQL is unreachable
they fail under CI=true and skip, saying why, otherwise.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# With --import-mode=importlib test folders are not on sys.path; the shared builders are.
sys.path.insert(0, str(Path(__file__).parent))

from collector_helpers import LESSON_END, LESSON_START, FakeClock, World

from service import credentials, db, enrolment, lessons, schools, users
from service.models import User

PG_ENV = "LESSONWATCH_TEST_PG"


def _pg_dsn() -> str:
    url = make_url(os.environ[PG_ENV])
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_unreachable(reason: str) -> None:
    message = f"PostgreSQL at {os.environ.get(PG_ENV)} is unreachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'collector.sqlite3'}"
        return
    schema = "lwtest_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg.connect(_pg_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _pg_unreachable(str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer")
        return
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        url = make_url(os.environ[PG_ENV]).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database on the parametrized backend."""
    engine = db.make_engine(db_url)
    db.migrate(engine)
    yield db.session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(LESSON_START)


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash for the whole run: hashing is slow on purpose."""
    return credentials.hash_password("correct horse battery")


@pytest.fixture
def world(sessions: sessionmaker[Session], clock: FakeClock, password_hash: str) -> World:
    now = clock()
    with sessions.begin() as session:
        school = schools.school(session)
        ann, bob, root, it = (
            User(
                school_id=school.id,
                username=name,
                role=role,
                password_hash=password_hash,
                created_at=now,
            )
            for name, role in (
                ("ann", "teacher"),
                ("bob", "teacher"),
                ("root", "admin"),
                ("ict", "it"),
            )
        )
        session.add_all([ann, bob, root, it])
        session.flush()
        l3 = lessons.add_lesson(
            session,
            school=school,
            group="3B",
            start=LESSON_START,
            end=LESSON_END,
            now=now,
            teacher=ann,
            subject="wiskunde",
            room="A12",
        )
        l4 = lessons.add_lesson(
            session,
            school=school,
            group="4A",
            start=LESSON_START,
            end=LESSON_END,
            now=now,
            teacher=bob,
        )
        week = timedelta(days=7)
        return World(
            lesson_3b=l3.id,
            lesson_4a=l4.id,
            code_3b=enrolment.create_code(
                session, school=school, group="3B", uses=50, lifetime=week, now=now
            ),
            code_4a=enrolment.create_code(
                session, school=school, group="4A", uses=50, lifetime=week, now=now
            ),
            teacher_token=users.create_token(session, user=ann, now=now),
            other_teacher_token=users.create_token(session, user=bob, now=now),
            admin_token=users.create_token(session, user=root, now=now),
            it_token=users.create_token(session, user=it, now=now),
        )
