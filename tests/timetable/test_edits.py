"""Admins' edits of single lessons survive the next sync, on SQLite and PostgreSQL; the pure
rule that keeps them, field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.errors import Conflict, InvalidRequest, NotFound
from service.models import AuditEntry, Lesson
from service.schools import registry as schools
from service.timetable import ImportResult, Occurrence, Window
from service.timetable.edits import check_fields, keep_edits
from service.timetable_store import editing, store
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


def sync(sessions: sessionmaker[Session], occurrences: list[Occurrence]) -> store.Applied:
    with sessions.begin() as session:
        school = schools.school(session)
        stored = store.load(session, school=school, source=SOURCE)
        plan = store.plan(stored, ImportResult(SOURCE, WINDOW, tuple(occurrences)), now=NOW)
        return store.apply(
            session, school=school, plan=plan, stored=stored, now=NOW, actor="test", source=SOURCE
        )


def row(sessions: sessionmaker[Session], uid: str) -> tuple[str, Occurrence, list[str] | None]:
    with sessions.begin() as session:
        found = store.load(session, school=schools.school(session), source=SOURCE)
        occurrence = next(o for o in found.occurrences if o.uid == uid)
        ident = found.ids[occurrence.key]
        return ident, occurrence, session.get_one(Lesson, ident).edited


def edit(sessions: sessionmaker[Session], ident: str, **changes: object) -> tuple[str, ...]:
    with sessions.begin() as session:
        school = schools.school(session)
        base = editing.current(session, session.get_one(Lesson, ident))
        return editing.edit_lesson(
            session,
            school=school,
            lesson_id=ident,
            edit=replace(base, **changes),  # type: ignore[arg-type]
            actor="user:beheer",
            now=NOW,
        )


# --- the pure rule


@pytest.mark.parametrize(
    ("fields", "incoming", "expected"),
    [
        # an edited room stays; the source's new teacher still arrives
        (["room"], {"room": "300", "teacher": "vdb"}, {"room": "105", "teacher": "vdb"}),
        # a moved lesson keeps both start and end; its new subject arrives
        (["time"], {"hour": 13, "subject": "na"}, {"hour": 10, "subject": "na"}),
        # a lesson the admin marked remote stays remote; the source's cancellation arrives
        (["remote"], {"cancelled": True}, {"remote": True, "cancelled": True}),
        # an admin's cancellation stays even when the source still has the lesson
        (["cancelled"], {}, {"cancelled": True}),
        # no edits: the source decides everything
        ([], {"room": "300"}, {"room": "300"}),
    ],
)
def test_keep_edits_keeps_only_the_edited_fields(
    fields: list[str], incoming: dict[str, object], expected: dict[str, object]
) -> None:
    """Edited fields keep their stored value; every other field takes the source's."""
    stored = lesson("a", 1, hour=10, room="105", remote=True, cancelled=True)
    if "remote" not in fields:
        stored = replace(stored, remote=False)
    if "cancelled" not in fields:
        stored = replace(stored, cancelled=False)
    hour = int(incoming.pop("hour", 8))  # type: ignore[call-overload]
    fresh = lesson("a", 1, hour=hour, **incoming)
    result = keep_edits(ImportResult(SOURCE, WINDOW, (fresh,)), [stored], {stored.key: fields})
    got = result.occurrences[0]
    want_hour = int(expected.pop("hour", hour))  # type: ignore[call-overload]
    assert got.start.hour == want_hour and got.end - got.start == timedelta(minutes=50)
    for name, value in expected.items():
        assert getattr(got, name) == value, name


def test_unknown_edited_fields_are_refused() -> None:
    """Only the editable fields can be recorded as edited."""
    assert check_fields(["room", "time"]) == ("time", "room")
    with pytest.raises(ValueError, match="subject"):
        check_fields(["subject"])


# --- storage, both backends


def test_an_edit_survives_the_next_sync(sessions: sessionmaker[Session]) -> None:
    """Moved and re-roomed by an admin, a lesson keeps both after a sync; other changes arrive."""
    sync(sessions, [lesson("a", 1), lesson("b", 2)])
    ident, _, _ = row(sessions, "a")
    moved = NOW.replace(hour=13, minute=0) + timedelta(days=1)
    changed = edit(sessions, ident, start=moved, end=moved + timedelta(minutes=45), room="105")
    assert changed == ("time", "room")
    applied = sync(sessions, [lesson("a", 1, teacher="vdb"), lesson("b", 2, room="300")])
    assert applied.updated == 2
    same, after, edited = row(sessions, "a")
    assert same == ident and edited == ["time", "room"]
    assert (after.start, after.end, after.room, after.teacher) == (
        moved,
        moved + timedelta(minutes=45),
        "105",
        "vdb",
    )
    assert row(sessions, "b")[1].room == "300"
    again = sync(sessions, [lesson("a", 1, teacher="vdb"), lesson("b", 2, room="300")])
    assert (again.updated, again.inserted) == (0, 0)  # the edit is not undone, then redone


def test_an_admins_cancellation_stays_and_clearing_hands_back(
    sessions: sessionmaker[Session],
) -> None:
    """A cancelled-by-hand lesson stays cancelled through syncs until its edits are cleared."""
    sync(sessions, [lesson("a", 1)])
    ident, _, _ = row(sessions, "a")
    assert edit(sessions, ident, cancelled=True) == ("cancelled",)
    sync(sessions, [lesson("a", 1)])
    assert row(sessions, "a")[1].cancelled
    with sessions.begin() as session:
        editing.clear_edits(
            session, school=schools.school(session), lesson_id=ident, actor="u", now=NOW
        )
    sync(sessions, [lesson("a", 1)])
    assert not row(sessions, "a")[1].cancelled and row(sessions, "a")[2] is None


def test_edits_are_audited_and_no_change_writes_nothing(sessions: sessionmaker[Session]) -> None:
    """Each edit is one audit entry naming the fields; an edit that changes nothing is none."""
    sync(sessions, [lesson("a", 1)])
    ident, _, _ = row(sessions, "a")
    assert edit(sessions, ident) == ()
    edit(sessions, ident, remote=True, teacher="vdb")
    with sessions.begin() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "lesson.edit"))
        assert [(e.actor, e.object, e.reason) for e in entries] == [
            ("user:beheer", f"lesson:{ident}", "changed teacher, remote")
        ]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"end": NOW.replace(hour=8) + timedelta(days=1)}, InvalidRequest),  # ends before start
        ({"end": NOW + timedelta(days=2)}, InvalidRequest),  # longer than 12 hours
        ({"room": "x" * 65}, InvalidRequest),
        ({"teacher": "a\x1b[31m"}, InvalidRequest),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(
    sessions: sessionmaker[Session], changes: dict[str, object], error: type[Exception]
) -> None:
    """Impossible times and unprintable or overlong names are refused; the lesson is as it was."""
    sync(sessions, [lesson("a", 1)])
    ident, before, _ = row(sessions, "a")
    with pytest.raises(error):
        edit(sessions, ident, **changes)
    assert row(sessions, "a")[1:] == (before, None)


def test_lessons_that_are_over_or_elsewhere_cannot_be_edited(
    sessions: sessionmaker[Session],
) -> None:
    """A lesson that ended is history; an unknown id is not found."""
    with sessions.begin() as session:
        school = schools.school(session)
        session.add(
            Lesson(
                id="l_past",
                school_id=school.id,
                group_id=schools.group(session, school, "3B").id,
                start=NOW - timedelta(days=1),
                end=NOW - timedelta(days=1) + timedelta(minutes=50),
            )
        )
    with pytest.raises(Conflict):
        edit(sessions, "l_past", remote=True)
    with sessions.begin() as session, pytest.raises(NotFound):
        editing.lesson_of(session, school=schools.school(session), lesson_id="l_nope")
