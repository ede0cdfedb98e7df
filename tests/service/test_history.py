"""The lessons page's history (issue 17): which days and filters a URL asks for, as a table, and
how the week before and after keep the filters."""

from __future__ import annotations

from datetime import date

import pytest

from service.errors import InvalidRequest
from service.lessons.history import History, parse_history

TODAY = date(2026, 12, 7)  # a Monday


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # nothing: this week
        ({}, History(date(2026, 12, 7), date(2026, 12, 13), week=True)),
        # a week by its ISO name, as the trend rows link to it
        ({"week": "2026-W48"}, History(date(2026, 11, 23), date(2026, 11, 29), week=True)),
        # across the new year
        ({"week": "2026-W01"}, History(date(2025, 12, 29), date(2026, 1, 4), week=True)),
        # a date range wins over a week; without "to" it is a week long
        (
            {"from": "2026-11-02", "to": "2026-11-20", "week": "2026-W48"},
            History(date(2026, 11, 2), date(2026, 11, 20), week=False),
        ),
        ({"from": "2026-11-04"}, History(date(2026, 11, 4), date(2026, 11, 10), week=False)),
        # filters, empty ones meaning "all"
        (
            {"group": "3B", "teacher": "", "subject": "wiskunde"},
            History(
                date(2026, 12, 7), date(2026, 12, 13), week=True, group="3B", subject="wiskunde"
            ),
        ),
    ],
)
def test_days_and_filters_from_the_url(params: dict[str, str], expected: History) -> None:
    assert parse_history(params, today=TODAY) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"week": "2026-W54"},
        {"week": "48"},
        {"from": "2026-13-01"},
        {"from": "2026-11-20", "to": "2026-11-02"},  # to before from
        {"from": "2026-01-01", "to": "2026-12-31"},  # longer than a term
    ],
)
def test_days_that_are_not_allowed_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        parse_history(params, today=TODAY)


def test_the_week_before_and_after_keep_the_filters() -> None:
    """From a range the links go to whole weeks; on Monday the week before holds last Friday."""
    chosen = parse_history({"from": "2026-11-04", "to": "2026-11-06", "group": "3B"}, today=TODAY)
    assert chosen.shifted(-1).query() == {"week": "2026-W44", "group": "3B"}
    assert chosen.shifted(1).query() == {"week": "2026-W46", "group": "3B"}
    assert chosen.query() == {"from": "2026-11-04", "to": "2026-11-06", "group": "3B"}
    last_week = parse_history({}, today=TODAY).shifted(-1)
    assert last_week.first <= date(2026, 12, 4) <= last_week.last
