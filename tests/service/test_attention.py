"""The attention list (issue 17): its pure parts as tables (filters, shares and the small-count
rule, the heat map, which rows are listed, sorting, paging, weeks), and that a late summary is
counted although the list reads kept totals without comparing fingerprints."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.devices import registry as devices
from service.errors import InvalidRequest
from service.ingest import summaries as ingest
from service.models import LessonTotals
from service.reports import attention
from service.reports.attention import Cell, Filters, Row
from service.schools import registry as schools
from tests.support.clock import LESSON_END, FakeClock
from tests.support.collector import World, enrol, finding, summary

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# --- filters from the URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # nothing chosen: the defaults
        ({}, Filters()),
        # an untouched select of the GET form sends empty values
        ({"group": "", "subject": "", "category": "", "weeks": ""}, Filters()),
        (
            {"group": "2", "subject": "wiskunde", "category": "social_media", "weeks": "12"},
            Filters(group=2, subject="wiskunde", category="social_media", weeks=12),
        ),
        (
            {"week": "2026-W48", "sort": "change", "page": "3"},
            Filters(week="2026-W48", sort="change", page=3),
        ),
    ],
)
def test_filters_are_read_from_the_url(params: dict[str, str], expected: Filters) -> None:
    assert attention.parse_filters(params) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"weeks": "0"},
        {"weeks": "13"},
        {"weeks": "six"},
        {"group": "-1"},
        {"page": "0"},
        {"sort": "teacher"},  # there is no teacher to sort by
        {"category": "x' OR 1=1 --"},  # the category goes into the statement's JSON path
        {"category": "Social Media"},
        {"week": "2026-W54"},
        {"week": "48"},
    ],
)
def test_filters_that_are_not_allowed_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        attention.parse_filters(params)


def test_filters_in_the_url_leave_out_defaults_and_keep_the_rest() -> None:
    """Links keep every chosen filter (sorting and paging links only change their own)."""
    chosen = Filters(group=3, category="social_media", weeks=4, sort="change", page=2)
    assert chosen.query(page=1) == {
        "group": "3",
        "category": "social_media",
        "weeks": "4",
        "sort": "change",
    }
    assert chosen.query(sort="share", page=1) == {
        "group": "3",
        "category": "social_media",
        "weeks": "4",
    }


# --- weeks ------------------------------------------------------------------------------------


def test_weeks_end_with_the_chosen_week_and_start_at_local_midnight() -> None:
    """Three weeks ending with the week of a Wednesday; the week across the end of summer time
    still starts on Monday at 00:00 in Amsterdam (22:00 UTC before, 23:00 after)."""
    mondays = attention.week_mondays(date(2026, 11, 4), 3)
    assert mondays == [date(2026, 10, 19), date(2026, 10, 26), date(2026, 11, 2)]
    edges = attention.bounds(mondays, AMSTERDAM)
    assert [e.astimezone(UTC).hour for e in edges] == [22, 23, 23, 23]
    assert attention.week_key(mondays[-1]) == "2026-W45"
    assert attention.monday_of("2026-W45") == date(2026, 11, 2)


# --- shares and the small-count rule ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flagged", "reporting", "small", "expected"),
    [
        (0, 0, 3, None),  # nothing reported
        (0, 30, 3, 0),  # reported, no findings: 0 is not a small count
        (1, 30, 3, None),  # one or two device-lessons: hidden, as in the reports
        (2, 30, 3, None),
        (3, 30, 3, 10),
        (2, 30, 1, 7),  # a school that hides nothing
        (10, 30, 3, 33),  # whole percent
        (30, 30, 3, 100),
    ],
)
def test_share_hides_small_counts(
    flagged: int, reporting: int, small: int, expected: int | None
) -> None:
    assert attention.share(flagged, reporting, small) == expected


def cell(group: int, subject: str | None, week: int, reporting: int, flagged: int) -> Cell:
    return Cell(group, subject, week, lessons=1, reporting=reporting, flagged=flagged)


def test_heat_map_sums_subjects_per_group_and_week_newest_first() -> None:
    cells = [
        cell(1, "wiskunde", 0, 30, 3),
        cell(1, "Engels", 0, 30, 9),  # week 0: 12 of 60 = 20 %
        cell(1, "wiskunde", 1, 30, 2),  # week 1: 2 of 30, hidden
        cell(2, "wiskunde", 1, 30, 0),  # group 2 only in week 1: 0 %
    ]
    heat = attention.heat_map(cells, weeks=2, threshold=20, small=3)
    one = [(c.week, c.share, c.hidden, c.above, c.reported) for c in heat[1]]
    assert one == [(1, None, True, False, True), (0, 20, False, True, True)]
    two = [(c.week, c.share, c.hidden, c.above, c.reported) for c in heat[2]]
    assert two == [(1, 0, False, False, True), (0, None, False, False, False)]


# --- rows listed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "listed", "hidden"),
    [
        # over the threshold over the weeks: listed, change newest against the earlier weeks
        ([cell(1, "a", 0, 30, 6), cell(1, "a", 1, 30, 9)], [(1, "a", 25, 30, 10, 2)], 0),
        # under it over the weeks but at it in the newest week: listed (what changed)
        ([cell(1, "a", 0, 60, 3), cell(1, "a", 1, 30, 6)], [(1, "a", 10, 20, 15, 1)], 0),
        # under it everywhere: not listed
        ([cell(1, "a", 0, 30, 3), cell(1, "a", 1, 30, 3)], [], 0),
        # too few device-lessons over the weeks: left out and counted as hidden
        ([cell(1, "a", 0, 3, 1), cell(1, "a", 1, 3, 1)], [], 1),
        # the newest week's count is small: its share and the change stay unknown
        ([cell(1, "a", 0, 30, 12), cell(1, "a", 1, 30, 2)], [(1, "a", 23, None, None, 1)], 0),
        # nothing reported at all: neither listed nor hidden
        ([cell(1, "a", 0, 0, 0)], [], 0),
    ],
)
def test_rows_reach_the_threshold_and_small_counts_are_left_out(
    cells: list[Cell], listed: list[tuple[object, ...]], hidden: int
) -> None:
    rows, left_out = attention.attention_rows(cells, weeks=2, threshold=20, small=3)
    assert [
        (r.group_id, r.subject, r.share, r.latest, r.change, r.weeks_above) for r in rows
    ] == listed
    assert left_out == hidden


def row(group: int, subject: str, share: int, change: int | None) -> Row:
    return Row(group, subject, share, latest=None, change=change, weeks_above=1, lessons=1)


NAMES = {1: "3B", 2: "4A", 3: "2C"}
ROWS = [
    row(1, "wiskunde", 30, 5),
    row(2, "Engels", 40, None),
    row(3, "biologie", 30, -2),
    row(1, "Engels", 25, 12),
]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # highest share first; ties by group name, then subject
        ("share", [("4A", "Engels"), ("2C", "biologie"), ("3B", "wiskunde"), ("3B", "Engels")]),
        # largest rise first, unknown change last
        ("change", [("3B", "Engels"), ("3B", "wiskunde"), ("2C", "biologie"), ("4A", "Engels")]),
        ("group", [("2C", "biologie"), ("3B", "Engels"), ("3B", "wiskunde"), ("4A", "Engels")]),
    ],
)
def test_rows_sort_by_share_change_or_group(sort: str, expected: list[tuple[str, str]]) -> None:
    ordered = attention.sort_rows(ROWS, sort, NAMES)
    assert [(NAMES[r.group_id], r.subject) for r in ordered] == expected


@pytest.mark.parametrize(
    ("count", "page", "size", "shown", "page_shown", "pages"),
    [
        (0, 1, 20, 0, 1, 1),
        (20, 1, 20, 20, 1, 1),
        (21, 2, 20, 1, 2, 2),
        (45, 2, 20, 20, 2, 3),
        (45, 9, 20, 5, 3, 3),  # past the last page: the last
    ],
)
def test_paging(count: int, page: int, size: int, shown: int, page_shown: int, pages: int) -> None:
    rows = [row(1, f"s{n:02d}", 50, None) for n in range(count)]
    got, at, total = attention.page_of(rows, page, size)
    assert (len(got), at, total) == (shown, page_shown, pages)
    if got:
        assert got[0] is rows[(at - 1) * size]


# --- kept totals stay current -----------------------------------------------------------------


def test_a_late_summary_is_counted_by_the_attention_list(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Ingestion drops a lesson's kept totals when a summary arrives, so the list, which reads
    kept totals without fingerprints, counts it at its next view."""
    with sessions.begin() as session:
        tokens = [enrol(session, world.code_3b, clock()).token for _ in range(4)]
    clock.now = LESSON_END + timedelta(minutes=5)

    def send(token: str, family: str | None) -> None:
        found = [finding(family, 300)] if family else []
        with sessions.begin() as session:
            results = ingest.ingest_batch(
                session,
                device=devices.device_for_token(session, token),
                items=[summary(world.lesson_3b, found)],
                now=clock(),
                future_tolerance=timedelta(hours=1),
            )
            assert results[0].status == "accepted"

    def listed() -> tuple[int | None, bool]:
        with sessions.begin() as session:
            actor = Actor.operator(schools.school(session))
            page = attention.attention_list(
                session, actor=actor, filters=Filters(weeks=1), now=clock()
            )
            kept = session.get(LessonTotals, world.lesson_3b) is not None
        [group] = [g for g in page["heat_map"] if g["group"] == "3B"]
        return group["cells"][0]["share"], kept

    for token in tokens[:3]:
        send(token, "tiktok")
    assert listed() == (100, True)
    send(tokens[3], None)  # a fourth device, late and without findings: 3 of 4
    with sessions.begin() as session:
        assert session.get(LessonTotals, world.lesson_3b) is None
    assert listed() == (75, True)
    with sessions.begin() as session:
        kept = session.get_one(LessonTotals, world.lesson_3b)
        assert kept.data["devices_reporting"] == 4
