"""The collector tests' world: a school with two groups, a lesson each, users and tokens.

The databases themselves (``db_url``, ``sessions``, on SQLite and PostgreSQL) come from
tests/support/databases.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.accounts import users
from service.actors import Actor
from service.devices import enrolment
from service.ingest.intake import Intake
from service.lessons import records as lessons
from service.models import User
from service.runtime import Runtime
from service.schools import registry as schools
from service.settings import Settings
from tests.support.actors import operator_for
from tests.support.clock import LESSON_END, LESSON_START, FakeClock
from tests.support.collector import World


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
                session, actor=Actor.operator(school), group="3B", uses=50, lifetime=week, now=now
            ),
            code_4a=enrolment.create_code(
                session, actor=Actor.operator(school), group="4A", uses=50, lifetime=week, now=now
            ),
            teacher_token=users.create_token(session, actor=operator_for(ann), user=ann, now=now),
            other_teacher_token=users.create_token(
                session, actor=operator_for(bob), user=bob, now=now
            ),
            admin_token=users.create_token(session, actor=operator_for(root), user=root, now=now),
            it_token=users.create_token(session, actor=operator_for(it), user=it, now=now),
        )


@pytest.fixture
def intake(sessions: sessionmaker[Session], clock: FakeClock) -> Iterator[Intake]:
    """A collector process's report intake on the test's database, closed at the end."""
    engine = sessions.kw["bind"]
    settings = Settings(db=engine.url.render_as_string(hide_password=False))
    made = Intake(Runtime(settings=settings, engine=engine, sessions=sessions, clock=clock))
    yield made
    made.close()
