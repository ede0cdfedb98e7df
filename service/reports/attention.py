"""The attention list: what changed and what recurs, per group and subject, for the school's
leaders and admins (issue 17). It replaces the list of every lesson with any finding.

It ranks groups and subjects, never pupils or teachers: no teacher is read, and no device id
leaves the database. The measure is the share of device-lessons with findings: per lesson the
devices with a finding (the largest category's count, as the group trend counts them, or the
chosen category's), summed over a group and subject's lessons of a week, divided by the devices
that reported in those lessons. A group and subject is listed when its share over the chosen
weeks, or in the newest week, reaches the school's ``attention_threshold`` (percent).

Small counts are hidden by the reports' own rule (``numbers.is_small_count``): a cell or row
whose device-lessons with findings are 1 to threshold - 1 shows no share, is not listed and
sorts nowhere, and no change is computed from a hidden share. Shares are whole percents with no
counts beside them.

Gather, decide: ``attention_list`` reads per group, subject and week the sums it needs in one
aggregating statement over the columns the kept per-lesson totals (``reports.totals``) carry
for it, and the frozen numbers of lessons past retention. Ingestion drops a lesson's kept
totals when a summary arrives, so kept ones are current; lessons with summaries and no kept
totals are counted first, only when the statement finds any. Everything after it is pure:
``heat_map``, ``attention_rows``, ``sort_rows``, ``page_of``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, literal_column, select
from sqlalchemy.orm import Session, aliased

from service import access
from service.access import Ability
from service.actors import Actor
from service.db import is_postgres
from service.errors import InvalidRequest
from service.models import (
    DeviceLessonSummary,
    Group,
    Lesson,
    LessonAggregate,
    LessonTotals,
    School,
)
from service.reports import totals as lesson_totals
from service.reports.numbers import is_small_count
from service.schools.registry import check_timezone

WEEKS = (1, 12)
DEFAULT_WEEKS = 6
PAGE_SIZE = 20
SORTS = ("share", "change", "group")
# Category ids of the policies (``policies/``): lower-case words. The chosen one is written into
# the statement's JSON path, so nothing else may pass.
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


# --- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the leader chose; the page keeps each in its URL (a GET form)."""

    group: int | None = None
    subject: str | None = None
    category: str | None = None
    weeks: int = DEFAULT_WEEKS
    week: str | None = None  # the newest week shown, ISO "2026-W48"; None: the current week
    sort: str = "share"
    page: int = 1

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as URL parameters, without the defaults, with ``changes`` applied."""
        chosen = replace(self, **changes)
        default = Filters()
        return {
            key: str(value)
            for key, value in asdict(chosen).items()
            if value is not None and value != getattr(default, key)
        }


def _number(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(
            "%(what)s must be from %(low)s to %(high)s", what=name, low=low, high=high
        )
    return int(text)


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Filters from URL parameters; InvalidRequest naming the first one that is not allowed.
    Empty values mean "any", as an untouched select of the GET form sends them."""
    category = params.get("category", "").strip() or None
    if category is not None and not _CATEGORY.match(category):
        raise InvalidRequest("no such category")
    week = params.get("week", "").strip() or None
    if week is not None:
        monday_of(week)
    sort = params.get("sort", "").strip() or "share"
    if sort not in SORTS:
        raise InvalidRequest("sort must be one of %(choices)s", choices=", ".join(SORTS))
    subject = params.get("subject", "").strip()[:100] or None
    return Filters(
        group=_number(params, "group", 1, 2**31 - 1),
        subject=subject,
        category=category,
        weeks=_number(params, "weeks", *WEEKS) or DEFAULT_WEEKS,
        week=week,
        sort=sort,
        page=_number(params, "page", 1, 10_000) or 1,
    )


def monday_of(week: str) -> date:
    """The Monday of an ISO week "2026-W48"."""
    found = _WEEK.match(week)
    try:
        if found is None:
            raise ValueError(week)
        return date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError:
        raise InvalidRequest("week must be a week like 2026-W48") from None


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_mondays(newest: date, weeks: int) -> list[date]:
    """The Mondays of the ``weeks`` weeks ending with the week of ``newest``, oldest first."""
    monday = newest - timedelta(days=newest.weekday())
    return [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def bounds(mondays: Sequence[date], tz: ZoneInfo) -> list[datetime]:
    """Each week's start at midnight school time, and the end of the last: one more than weeks.
    Local midnights, so a week across a change of clocks still starts on Monday at 00:00."""
    days = [*mondays, mondays[-1] + timedelta(weeks=1)]
    return [datetime.combine(day, time(), tz) for day in days]


# --- decide: pure -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One group, subject and week (index into the weeks, oldest 0): the aggregating
    statement's row. ``flagged`` is the device-lessons with findings, ``reporting`` the
    device-lessons that reported."""

    group_id: int
    subject: str | None
    week: int
    lessons: int
    reporting: int
    flagged: int


def share(flagged: int, reporting: int, small: int) -> int | None:
    """Whole percent of device-lessons with findings; None when nothing reported or when the
    count is too small to show."""
    if reporting <= 0 or is_small_count(flagged, small):
        return None
    return round(100 * flagged / reporting)


@dataclass(frozen=True)
class HeatCell:
    week: int
    lessons: int
    reported: bool
    hidden: bool
    share: int | None
    above: bool


def heat_map(
    cells: Iterable[Cell], *, weeks: int, threshold: int, small: int
) -> dict[int, list[HeatCell]]:
    """Per group its weeks, newest first: the share over all its subjects (those filtered)."""
    sums: dict[int, list[list[int]]] = defaultdict(lambda: [[0, 0, 0] for _ in range(weeks)])
    for c in cells:
        total = sums[c.group_id][c.week]
        total[0] += c.lessons
        total[1] += c.reporting
        total[2] += c.flagged
    out: dict[int, list[HeatCell]] = {}
    for group_id, per_week in sums.items():
        row = []
        for week in range(weeks - 1, -1, -1):
            lessons, reporting, flagged = per_week[week]
            value = share(flagged, reporting, small)
            row.append(
                HeatCell(
                    week=week,
                    lessons=lessons,
                    reported=reporting > 0,
                    hidden=reporting > 0 and is_small_count(flagged, small),
                    share=value,
                    above=value is not None and value >= threshold,
                )
            )
        out[group_id] = row
    return out


@dataclass(frozen=True)
class Row:
    """A group and subject over the chosen weeks: its share, the newest week's, the change of
    the newest week against the weeks before (percentage points), and in how many weeks the
    share reached the threshold."""

    group_id: int
    subject: str | None
    share: int
    latest: int | None
    change: int | None
    weeks_above: int
    lessons: int


def attention_rows(
    cells: Iterable[Cell], *, weeks: int, threshold: int, small: int
) -> tuple[list[Row], int]:
    """The listed rows (share over the weeks or in the newest week at the threshold or above),
    unsorted, and how many group-and-subject rows were left out because their counts are too
    small to show."""
    per: dict[tuple[int, str | None], dict[int, Cell]] = defaultdict(dict)
    for c in cells:
        per[(c.group_id, c.subject)][c.week] = c
    rows: list[Row] = []
    hidden = 0
    newest = weeks - 1
    for (group_id, subject), by_week in per.items():
        reporting = sum(c.reporting for c in by_week.values())
        flagged = sum(c.flagged for c in by_week.values())
        total = share(flagged, reporting, small)
        if total is None:
            hidden += reporting > 0 and is_small_count(flagged, small)
            continue
        last = by_week.get(newest)
        latest = share(last.flagged, last.reporting, small) if last else None
        before = [c for w, c in by_week.items() if w != newest]
        earlier = share(sum(c.flagged for c in before), sum(c.reporting for c in before), small)
        change = latest - earlier if latest is not None and earlier is not None else None
        above = [
            w
            for w, c in by_week.items()
            if (s := share(c.flagged, c.reporting, small)) and s >= threshold
        ]
        if total < threshold and (latest is None or latest < threshold):
            continue
        rows.append(
            Row(
                group_id=group_id,
                subject=subject,
                share=total,
                latest=latest,
                change=change,
                weeks_above=len(above),
                lessons=sum(c.lessons for c in by_week.values()),
            )
        )
    return rows, hidden


def sort_rows(rows: Iterable[Row], sort: str, group_names: Mapping[int, str]) -> list[Row]:
    """By share (highest first), by change (largest rise first, unknown last) or by group name;
    ties by group name and subject, so the order never depends on the database's."""

    def name(row: Row) -> tuple[str, str]:
        return (group_names.get(row.group_id, ""), row.subject or "")

    by_name = sorted(rows, key=name)
    if sort == "share":
        return sorted(by_name, key=lambda r: -r.share)
    if sort == "change":
        return sorted(by_name, key=lambda r: (r.change is None, -(r.change or 0)))
    return by_name


def page_of(rows: Sequence[Row], page: int, size: int = PAGE_SIZE) -> tuple[list[Row], int, int]:
    """The rows of ``page`` (past the last page: the last), that page and the number of pages."""
    pages = max(1, -(-len(rows) // size))
    page = min(max(page, 1), pages)
    return list(rows[(page - 1) * size : page * size]), page, pages


# --- gather -----------------------------------------------------------------------------------


def attention_list(
    session: Session, *, actor: Actor, filters: Filters, now: datetime
) -> dict[str, Any]:
    """The attention list of the actor's school: the heat map, the listed rows of the page, and
    what the page needs to show them. Leaders and admins only."""
    access.require(actor, Ability.SCHOOL_OVERVIEW)
    school = session.get_one(School, actor.school_id)
    tz = check_timezone(school.timezone)
    newest = monday_of(filters.week) if filters.week else now.astimezone(tz).date()
    mondays = week_mondays(newest, filters.weeks)
    edges = bounds(mondays, tz)
    groups = dict(
        session.execute(
            select(Group.id, Group.name).where(Group.school_id == school.id).order_by(Group.name)
        ).all()
    )
    if filters.group is not None and filters.group not in groups:
        raise InvalidRequest("no such group")
    window = _window(school.id, filters, edges, now)
    cells, unkept = _cells(session, window, filters, edges)
    if unkept:
        # Lessons with summaries and no kept totals yet: count them, then sum again. Once
        # every lesson of the weeks is kept (the usual view) this is one statement.
        _count_missing(session, window)
        cells, _ = _cells(session, window, filters, edges)
    small = school.small_count_threshold
    threshold = school.attention_threshold
    heat = heat_map(cells, weeks=filters.weeks, threshold=threshold, small=small)
    rows, hidden = attention_rows(cells, weeks=filters.weeks, threshold=threshold, small=small)
    ordered = sort_rows(rows, filters.sort, groups)
    shown, page, pages = page_of(ordered, filters.page)
    # The subjects of the weeks, from the sums already read: a second pass over the window's
    # lessons cost as much as the sums themselves at a school year's size.
    subjects = sorted({c.subject for c in cells if c.subject} | {filters.subject or ""} - {""})
    return {
        "weeks": [{"week": week_key(m), "monday": m.isoformat()} for m in reversed(mondays)],
        "threshold": threshold,
        "suppressed_below": small,
        "filters": asdict(replace(filters, page=page)),
        "groups": [{"id": gid, "name": name} for gid, name in groups.items()],
        "subjects": subjects,
        "heat_map": [
            {"group_id": gid, "group": groups[gid], "cells": [asdict(c) for c in heat[gid]]}
            for gid in groups
            if gid in heat
        ],
        "rows": [{**asdict(r), "group": groups.get(r.group_id, "")} for r in shown],
        "rows_listed": len(ordered),
        "rows_hidden": hidden,
        "page": page,
        "pages": pages,
    }


def _window(
    school_id: int, filters: Filters, edges: Sequence[datetime], now: datetime
) -> list[ColumnElement[bool]]:
    """The lessons the list counts: the school's, of the weeks, begun, not cancelled, filtered."""
    where = [
        Lesson.school_id == school_id,
        Lesson.start >= edges[0],
        Lesson.start < edges[-1],
        Lesson.start <= now,
        Lesson.cancelled.is_(False),
    ]
    if filters.group is not None:
        where.append(Lesson.group_id == filters.group)
    if filters.subject is not None:
        where.append(Lesson.subject == filters.subject)
    return where


def _count_missing(session: Session, window: Sequence[ColumnElement[bool]]) -> None:
    """Count and keep the totals of the window's lessons that have summaries but no current
    totals: lessons nobody opened yet, or whose totals ingestion dropped for a new summary."""
    kept = exists().where(
        LessonTotals.lesson_id == Lesson.id, LessonTotals.version == lesson_totals.VERSION
    )
    frozen = exists().where(LessonAggregate.lesson_id == Lesson.id)
    reported = exists().where(DeviceLessonSummary.lesson_id == Lesson.id)
    rows = session.execute(
        select(Lesson.id, Lesson.group_id, Lesson.start, Lesson.end).where(
            *window, ~kept, ~frozen, reported
        )
    ).all()
    if rows:
        lesson_totals.for_lessons(session, [lesson_totals.Span(*row) for row in rows])


def _cells(
    session: Session,
    window: Sequence[ColumnElement[bool]],
    filters: Filters,
    edges: Sequence[datetime],
) -> tuple[list[Cell], int]:
    """One aggregating statement: per group, subject and week the lessons and the sums of the
    kept numbers' devices reporting and device-lessons with findings (columns of the kept
    totals; JSON for frozen lessons and for a chosen category), and how many of the lessons
    have summaries but no kept totals (which the caller counts first, then sums again)."""
    # Two outer joins rather than one join to a union: SQLite would build the union of every
    # kept row of the school year before joining it.
    t = aliased(LessonTotals, name="t")
    a = aliased(LessonAggregate, name="a")
    reporting, flagged = _json_sums(is_postgres(session), filters.category)
    inner = edges[1:-1]
    week: ColumnElement[int] = (
        case(*((Lesson.start < edge, n) for n, edge in enumerate(inner)), else_=len(inner))
        if inner
        else literal(0)  # one week: a CASE needs at least one WHEN
    )
    per_lesson = (
        select(
            Lesson.group_id,
            Lesson.subject,
            week.label("week"),
            literal_column(reporting).label("reporting"),
            literal_column(flagged).label("flagged"),
            case(
                (
                    and_(
                        t.lesson_id.is_(None),
                        a.lesson_id.is_(None),
                        exists().where(DeviceLessonSummary.lesson_id == Lesson.id),
                    ),
                    1,
                ),
                else_=0,
            ).label("unkept"),
        )
        .select_from(Lesson)
        .outerjoin(t, and_(t.lesson_id == Lesson.id, t.version == lesson_totals.VERSION))
        .outerjoin(a, a.lesson_id == Lesson.id)
        .where(*window)
        .subquery("l")
    )
    c = per_lesson.c
    statement = select(
        c.group_id,
        c.subject,
        c.week,
        func.count(),
        func.coalesce(func.sum(c.reporting), 0),
        func.coalesce(func.sum(c.flagged), 0),
        func.coalesce(func.sum(c.unkept), 0),
    ).group_by(c.group_id, c.subject, c.week)
    cells, unkept = [], 0
    for group, subject, week, lessons, reporting, flagged, missing in session.execute(statement):
        cells.append(
            Cell(int(group), subject, int(week), int(lessons), int(reporting), int(flagged))
        )
        unkept += int(missing)
    return cells, unkept


def _json_sums(pg: bool, category: str | None) -> tuple[str, str]:
    """SQL of a lesson's devices reporting and device-lessons with findings: the kept totals'
    columns (``t``), else the frozen numbers' JSON (``a``, lessons past retention); with a
    category chosen, that category's count from the JSON of either. ``category`` was checked
    against ``_CATEGORY`` (lower-case word characters only)."""
    if category is not None and not _CATEGORY.match(category):
        raise InvalidRequest("no such category")
    data = "coalesce(t.data, a.data)" if category else "a.data"
    if pg:
        reporting = f"CAST({data} ->> 'devices_reporting' AS INTEGER)"
        only = f" WHERE c.value ->> 'category' = '{category}'" if category else ""
        flagged = (
            "(SELECT max(CAST(c.value ->> 'devices' AS INTEGER)) "
            f"FROM json_array_elements({data} -> 'categories') AS c(value){only})"
        )
    else:
        reporting = f"CAST(json_extract({data}, '$.devices_reporting') AS INTEGER)"
        only = f" WHERE json_extract(c.value, '$.category') = '{category}'" if category else ""
        flagged = (
            "(SELECT max(CAST(json_extract(c.value, '$.devices') AS INTEGER)) "
            f"FROM json_each({data}, '$.categories') AS c{only})"
        )
    reporting = f"coalesce(t.devices_reporting, {reporting})"
    if category is None:
        flagged = f"coalesce(t.devices_flagged, {flagged})"
    return reporting, flagged
