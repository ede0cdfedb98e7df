"""The group trend and the attention list read per-lesson totals: their numbers are the lessons'
report numbers (before and after the purge), on both backends, in a fixed number of queries
however many lessons they show."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.demo import data as demo_data
from service.models import Lesson, School, User
from service.reports import attention
from service.reports.attention import Filters
from service.reports.lesson_report import stored_numbers
from service.retention import purge as retention
from service.schools import registry as schools
from service.web.i18n import translator
from service.web.pages.trend import WEEKS, group_trend, week_row
from tests.support.clock import DEMO_NOW
from tests.support.sql import recorded

# The demo school as the run's template holds it, seeded once at DEMO_NOW and copied per test
# (seeding it in each test cost about two seconds of CPU each).
NOW = DEMO_NOW
T = translator("nl")


def demo_school(session: Session) -> School:
    return schools.school(session, demo_data.SCHOOL)


def leader(session: Session) -> User:
    return session.scalars(select(User).where(User.role == "leader")).one()


def as_leader(session: Session) -> Actor:
    return Actor.of_user(leader(session))


def lessons_of_3b(session: Session) -> list[Lesson]:
    group = schools.group(session, demo_school(session), "3B")
    query = select(Lesson).where(Lesson.group_id == group.id, Lesson.start <= NOW)
    return list(session.scalars(query.order_by(Lesson.start)))


def expected_trend(session: Session, school: School) -> list[dict[str, Any]]:
    """The trend of a lesson in the demo's last week, as the per-lesson reports give it: the
    demo's four weeks all fall in the trend's six."""
    assert WEEKS >= 4
    tz = schools.check_timezone(school.timezone)
    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in lessons_of_3b(session):
        year, week, _ = row.start.astimezone(tz).isocalendar()
        weeks[f"{year}-W{week:02d}"].append(stored_numbers(session, row))
    return [{"week": key, **week_row(weeks[key])} for key in sorted(weeks)]


def trend_numbers(trend: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("week", "lessons", "lessons_reported", "device_lessons_with_findings", "minutes")
    return [{key: week[key] for key in keys} for week in trend]


def test_trend_equals_the_reports_before_and_after_the_purge(
    demo_sessions: sessionmaker[Session],
) -> None:
    """Each week of the trend adds up its lessons' report numbers; after the purge froze the
    older weeks it reads the same."""
    with demo_sessions.begin() as session:
        school = demo_school(session)
        school.small_count_threshold = 1  # every number shown, so all are compared
        lesson = lessons_of_3b(session)[-1]
        before = trend_numbers(
            group_trend(
                session, lesson=lesson, school=school, actor=as_leader(session), now=NOW, t=T
            )
        )
        assert before == expected_trend(session, school)
        assert len(before) == 4 and all(week["device_lessons_with_findings"] for week in before)
    with demo_sessions.begin() as session:
        assert retention.purge(session, now=NOW + timedelta(days=14)).lessons_frozen > 0
    with demo_sessions.begin() as session:
        school = demo_school(session)
        lesson = session.get_one(Lesson, lesson.id)
        after = trend_numbers(
            group_trend(
                session, lesson=lesson, school=school, actor=as_leader(session), now=NOW, t=T
            )
        )
        assert after == before == expected_trend(session, school)


def test_a_teachers_trend_counts_only_the_lessons_they_teach(
    demo_sessions: sessionmaker[Session],
) -> None:
    """A colleague's lesson in the group is in the leader's trend and not in the teacher's, so
    no difference of two trends recovers a count the teacher may not read."""
    with demo_sessions.begin() as session:
        school = demo_school(session)
        school.small_count_threshold = 1
        colleague = session.scalars(select(User).where(User.username == "jansen")).one()
        teacher = session.scalars(select(User).where(User.username == "devries")).one()
        taken_over = lessons_of_3b(session)[-2]
        taken_over.teacher_id = colleague.id
        lesson = lessons_of_3b(session)[-1]
        week = lesson.start.astimezone(schools.check_timezone(school.timezone)).isocalendar()
        key = f"{week[0]}-W{week[1]:02d}"

        def this_week(actor: Actor) -> dict[str, Any]:
            trend = group_trend(session, lesson=lesson, school=school, actor=actor, now=NOW, t=T)
            return next(w for w in trend if w["week"] == key)

        whole, own = this_week(as_leader(session)), this_week(Actor.of_user(teacher))
        alone = stored_numbers(session, taken_over)
    assert own["lessons"] == whole["lessons"] - 1
    assert own["device_lessons_with_findings"] == whole["device_lessons_with_findings"] - max(
        (c["devices"] for c in alone["categories"]), default=0
    )


def test_trend_hides_weeks_of_too_few_devices(demo_sessions: sessionmaker[Session]) -> None:
    """With a threshold above every week's count, no week shows a number, only the text."""
    with demo_sessions.begin() as session:
        school = demo_school(session)
        school.small_count_threshold = 10_000
        lesson = lessons_of_3b(session)[-1]
        trend = group_trend(
            session, lesson=lesson, school=school, actor=as_leader(session), now=NOW, t=T
        )
    assert trend and {w["device_lessons_with_findings"] for w in trend} == {None}
    assert {w["minutes"] for w in trend} == {None}
    assert {w["devices_text"] for w in trend} == {"minder dan 10000"}


def test_trend_takes_as_many_queries_for_one_week_as_for_four(
    demo_sessions: sessionmaker[Session],
) -> None:
    """A lesson in the demo's first week (one week of trend) and one in its last (four weeks)
    cost the same queries, counted cold and warm."""
    counts = []
    for _ in ("cold", "warm"):
        for pick in (0, -1):
            with demo_sessions.begin() as session:
                school = demo_school(session)
                lesson = lessons_of_3b(session)[pick]
                with recorded(demo_sessions) as sql:
                    trend = group_trend(
                        session,
                        lesson=lesson,
                        school=school,
                        actor=as_leader(session),
                        now=NOW,
                        t=T,
                    )
                counts.append((len(trend), len(sql)))
    (one, cold_one), (four, cold_four), (_, warm_one), (_, warm_four) = counts
    assert (one, four) == (1, 4)
    assert cold_one == cold_four and warm_one == warm_four < cold_one


def expected_cells(session: Session, weeks: int) -> dict[tuple[int, str | None, str], Any]:
    """Per group, subject and week of the window the lessons, devices reporting and
    device-lessons with findings, added up from each lesson's own report."""
    school = demo_school(session)
    tz = schools.check_timezone(school.timezone)
    mondays = attention.week_mondays(NOW.astimezone(tz).date(), weeks)
    edges = attention.bounds(mondays, tz)
    window = select(Lesson).where(
        Lesson.school_id == school.id,
        Lesson.start >= edges[0],
        Lesson.start <= NOW,
        Lesson.cancelled.is_(False),
    )
    out: dict[tuple[int, str | None, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for lesson in session.scalars(window):
        numbers = stored_numbers(session, lesson)
        key = (lesson.group_id, lesson.subject, attention.week_key(lesson.start.astimezone(tz)))
        out[key][0] += 1
        out[key][1] += numbers["devices_reporting"]
        out[key][2] += max((c["devices"] for c in numbers["categories"]), default=0)
    return {key: tuple(value) for key, value in out.items()}


def shown_cells(page: dict[str, Any], expected: dict[tuple[int, str | None, str], Any]) -> Any:
    """The heat map as the expected cells give it (the pure ``heat_map`` over them)."""
    weeks = [w["week"] for w in reversed(page["weeks"])]
    cells = [
        attention.Cell(group, subject, weeks.index(week), *numbers)
        for (group, subject, week), numbers in expected.items()
    ]
    heat = attention.heat_map(
        cells, weeks=len(weeks), threshold=page["threshold"], small=page["suppressed_below"]
    )
    return [{"group_id": gid, "cells": [asdict(c) for c in heat[gid]]} for gid in sorted(heat)]


def test_attention_list_equals_the_reports_in_a_fixed_number_of_queries(
    demo_sessions: sessionmaker[Session],
) -> None:
    """One week (few lessons) and six (the demo's four weeks) take the same number of queries,
    cold and warm; warm, no summary is read; the heat map is the lessons' reports added up,
    before and after the purge froze the older weeks."""
    runs = []
    expected_of: dict[int, dict[tuple[int, str | None, str], Any]] = {}
    for _ in ("cold", "warm"):
        for weeks in (1, 6):
            with demo_sessions.begin() as session:
                demo_school(session).small_count_threshold = 1  # every share shown
                actor = as_leader(session)
                session.flush()
                with recorded(demo_sessions) as sql:
                    page = attention.attention_list(
                        session, actor=actor, filters=Filters(weeks=weeks), now=NOW
                    )
                if weeks not in expected_of:  # the same cold and warm: counted once
                    expected_of[weeks] = expected_cells(session, weeks)
                expected = expected_of[weeks]
                got = [{"group_id": g["group_id"], "cells": g["cells"]} for g in page["heat_map"]]
                assert got == shown_cells(page, expected)
                runs.append((sum(n[0] for n in expected.values()), sql))
    (few, cold_few), (many, cold_many), (_, warm_few), (_, warm_many) = runs
    assert 0 < few < many / 2, (few, many)
    assert len(cold_few) == len(cold_many) and len(warm_few) == len(warm_many)
    assert len(warm_many) < len(cold_many)
    assert not [s for s in warm_many if "device_lesson_summaries.summary" in s]
    with demo_sessions.begin() as session:
        assert retention.purge(session, now=NOW + timedelta(days=14)).lessons_frozen > 0
    with demo_sessions.begin() as session:
        demo_school(session).small_count_threshold = 1
        page = attention.attention_list(
            session, actor=as_leader(session), filters=Filters(weeks=6), now=NOW
        )
        got = [{"group_id": g["group_id"], "cells": g["cells"]} for g in page["heat_map"]]
        # The reports read the frozen numbers now, and must still give the same cells.
        assert expected_cells(session, 6) == expected_of[6]
        assert got == shown_cells(page, expected_of[6])


def test_attention_list_hides_small_counts(demo_sessions: sessionmaker[Session]) -> None:
    """With a threshold above every count, no share shows, no row is listed, and each group
    and subject with findings is counted as left out."""
    with demo_sessions.begin() as session:
        demo_school(session).small_count_threshold = 10_000
        page = attention.attention_list(
            session, actor=as_leader(session), filters=Filters(), now=NOW
        )
    cells = [c for g in page["heat_map"] for c in g["cells"] if c["reported"]]
    assert cells and all(c["hidden"] and c["share"] is None for c in cells)
    assert page["rows"] == [] and page["rows_hidden"] > 0
