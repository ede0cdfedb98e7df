"""Applying a sync plan to the lessons table, on SQLite and PostgreSQL: in place, all or nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.lessons import records as lessons
from service.models import AuditEntry, Group, Lesson, Room, User
from service.schools import registry as schools
from service.timetable import ImportResult, Occurrence, Window, apply_plan, plan_sync
from service.timetable_store import store
from tests.support.clock import TIMETABLE_NOW

NOW = TIMETABLE_NOW
WINDOW = Window(NOW - timedelta(days=7), NOW + timedelta(days=28))
SOURCE = "rooster.ics"


def lesson(uid: str, day: int, hour: int = 8, **fields: object) -> Occurrence:
    start = NOW.replace(hour=hour, minute=30) + timedelta(days=day)
    values: dict[str, object] = {"group": "3B", "subject": "wi", "teacher": "jdv", "room": "217"}
    values.update(fields)
    return Occurrence(
        source=SOURCE,
        uid=uid,
        recurrence_id="",
        start=start,
        end=start + timedelta(minutes=50),
        **values,  # type: ignore[arg-type]
    )


def sync(
    sessions: sessionmaker[Session], occurrences: list[Occurrence], now: datetime = NOW
) -> store.Applied:
    with sessions.begin() as session:
        school = schools.school(session)
        stored = store.load(session, school=school, source=SOURCE)
        result = ImportResult(SOURCE, WINDOW, tuple(occurrences))
        plan = plan_sync(stored.occurrences, result, now=now)
        return store.apply(
            session, school=school, plan=plan, stored=stored, now=now, actor="test", source=SOURCE
        )


def stored(sessions: sessionmaker[Session]) -> dict[str, tuple[str, Occurrence]]:
    """uid -> (lesson id, occurrence) as the table now holds them."""
    with sessions.begin() as session:
        found = store.load(session, school=schools.school(session), source=SOURCE)
        return {o.uid: (found.ids[o.key], o) for o in found.occurrences}


def test_reimport_updates_in_place_cancels_and_removes(sessions: sessionmaker[Session]) -> None:
    """A second import moves, cancels and removes by UID, keeping each lesson's id."""
    first = [lesson("a", 1), lesson("b", 2), lesson("c", 3), lesson("d", 4)]
    assert sync(sessions, first).counts() == {
        "inserted": 4,
        "updated": 0,
        "cancelled": 0,
        "removed": 0,
        "kept_cancelled": 0,
    }
    ids = {uid: ident for uid, (ident, _) in stored(sessions).items()}
    again = sync(sessions, first)
    assert again.counts()["inserted"] == 0 and stored(sessions).keys() == ids.keys()

    moved = lesson("b", 2, hour=10, room="218", teacher="vdb")
    second = [first[0], moved, replace(first[2], cancelled=True), lesson("e", 5)]
    applied = sync(sessions, second)
    assert (applied.inserted, applied.updated, applied.cancelled, applied.removed) == (1, 1, 1, 1)
    now_stored = stored(sessions)
    assert sorted(now_stored) == ["a", "b", "c", "e"]
    assert now_stored["b"] == (ids["b"], moved)
    assert now_stored["c"][0] == ids["c"] and now_stored["c"][1].cancelled


def test_names_are_created_once_and_teachers_linked_by_username(
    sessions: sessionmaker[Session], password_hash: str
) -> None:
    """Groups and rooms are created on first use; a teacher code that is a username links it."""
    with sessions.begin() as session:
        school = schools.school(session)
        session.add(
            User(
                school_id=school.id,
                username="jdv",
                role="teacher",
                password_hash=password_hash,
                created_at=NOW,
            )
        )
    sync(sessions, [lesson("a", 1), lesson("b", 2, teacher="xyz", group="4A", room=None)])
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Group)) == 2
        assert session.scalars(select(Room.name)).all() == ["217"]
        rows = {r.uid: r for r in session.scalars(select(Lesson))}
        jdv = session.scalar(select(User.id).where(User.username == "jdv"))
        assert (rows["a"].teacher_id, rows["a"].teacher_code) == (jdv, "jdv")
        assert (rows["b"].teacher_id, rows["b"].teacher_code) == (None, "xyz")
        assert session.scalar(
            select(AuditEntry.reason).where(AuditEntry.action == "timetable.sync")
        )


def test_lessons_that_are_over_are_never_touched(sessions: sessionmaker[Session]) -> None:
    """A sync after a lesson ended neither changes nor removes it."""
    sync(sessions, [lesson("a", 1), lesson("b", 2)])
    later = NOW + timedelta(days=1, hours=12)
    applied = sync(sessions, [lesson("b", 2, room="999")], now=later)
    assert (applied.removed, applied.updated) == (0, 1)
    assert stored(sessions)["a"][1] == lesson("a", 1)


def test_a_dropped_lesson_with_a_permission_is_kept_cancelled(
    sessions: sessionmaker[Session],
) -> None:
    """A lesson the source dropped after a permission was granted stays, cancelled, detached."""
    sync(sessions, [lesson("a", 1), lesson("b", 2)])
    with sessions.begin() as session:
        row = session.scalar(select(Lesson).where(Lesson.uid == "a"))
        assert row is not None
        lessons.grant_permission(session, lesson=row, categories=["social_media"], now=NOW)
        kept_id = row.id
    applied = sync(sessions, [lesson("b", 2)])
    assert (applied.removed, applied.kept_cancelled) == (0, 1)
    with sessions.begin() as session:
        row = session.get_one(Lesson, kept_id)
        assert row.cancelled and row.source is None and row.uid is None
    assert sorted(stored(sessions)) == ["b"]
    assert sync(sessions, [lesson("a", 1), lesson("b", 2)]).inserted == 1  # it may come back


def test_manual_lessons_and_other_sources_are_left_alone(sessions: sessionmaker[Session]) -> None:
    """An import only ever changes lessons of its own source."""
    with sessions.begin() as session:
        school = schools.school(session)
        manual = lessons.add_lesson(
            session,
            school=school,
            group="3B",
            start=NOW + timedelta(days=1),
            end=NOW + timedelta(days=1, minutes=50),
            now=NOW,
        ).id
    sync(sessions, [lesson("a", 1)])
    sync(sessions, [])
    with sessions.begin() as session:
        assert session.scalars(select(Lesson.id)).all() == [manual]


uids = st.sampled_from("abcdef")
variants = st.builds(
    lambda uid, day, hour, cancelled, room: lesson(uid, day, hour, cancelled=cancelled, room=room),
    uids,
    st.integers(0, 20),
    st.sampled_from([8, 10, 13]),
    st.booleans(),
    st.sampled_from(["217", "218", None]),
)
imports = st.lists(variants, max_size=6, unique_by=lambda o: o.uid)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(imports, min_size=1, max_size=3))
def test_storage_matches_the_plan(
    sessions: sessionmaker[Session], rounds: list[list[Occurrence]]
) -> None:
    """After any sequence of imports the table holds exactly what the pure plan says."""
    with sessions.begin() as session:
        session.execute(Lesson.__table__.delete().where(Lesson.source == SOURCE))
    expected: list[Occurrence] = []
    for occurrences in rounds:
        plan = plan_sync(expected, ImportResult(SOURCE, WINDOW, tuple(occurrences)), now=NOW)
        expected = apply_plan(expected, plan)
        sync(sessions, occurrences)
        assert sorted((o for _, o in stored(sessions).values()), key=lambda o: o.key) == sorted(
            expected, key=lambda o: o.key
        )


@pytest.mark.parametrize("count", [1200])
def test_large_imports_are_written_in_chunks(sessions: sessionmaker[Session], count: int) -> None:
    """More lessons than one statement's chunk are all inserted, updated and removed."""
    many = [lesson(f"u{i}", 1 + i % 20, hour=8 + i % 8) for i in range(count)]
    assert sync(sessions, many).inserted == count
    shifted = [replace(o, room="300") for o in many[: count // 2]]
    applied = sync(sessions, shifted)
    assert (applied.updated, applied.removed) == (count // 2, count - count // 2)
    assert {o.room for _, o in stored(sessions).values()} == {"300"}
