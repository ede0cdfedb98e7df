"""The trend's batched numbers are exactly the per-lesson report numbers, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import demo_data, retention
from service.lesson_report import live_numbers, stored_numbers
from service.models import Lesson
from service.web.pages.trend import lesson_numbers

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def shape(numbers: dict[str, object]) -> tuple[object, ...]:
    categories = numbers["categories"]
    assert isinstance(categories, list)
    return (
        numbers["devices_reporting"],
        [(c["category"], c["devices"], c["seconds"]) for c in categories],
    )


def test_batched_trend_numbers_equal_the_report_numbers(sessions: sessionmaker[Session]) -> None:
    """For every lesson of the demo school, counting in one pass gives the report's numbers."""
    with sessions.begin() as session:
        demo_data.seed(session, now=NOW)
        rows = list(session.scalars(select(Lesson)))
        batch = lesson_numbers(session, rows)
        assert sum(1 for r in rows if batch[r.id]["categories"]) > 50, "demo has findings"
        for row in rows:
            assert shape(batch[row.id]) == shape(live_numbers(session, row)), row.id


def test_batched_trend_reads_frozen_numbers_after_the_purge(
    sessions: sessionmaker[Session],
) -> None:
    """After retention froze old lessons, the trend reads the frozen numbers, which match."""
    with sessions.begin() as session:
        demo_data.seed(session, now=NOW)
        rows = list(session.scalars(select(Lesson)))
        before = {row.id: shape(live_numbers(session, row)) for row in rows}
    with sessions.begin() as session:
        retention.purge(session, now=NOW.replace(year=2027))
    with sessions.begin() as session:
        rows = list(session.scalars(select(Lesson)))
        batch = lesson_numbers(session, rows)
        for row in rows:
            assert shape(batch[row.id]) == before[row.id] == shape(stored_numbers(session, row))
