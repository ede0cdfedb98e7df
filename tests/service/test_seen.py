"""last_seen at day granularity (issue 15): which day a contact falls on, and when it is
written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.devices.registry import touch_due
from service.devices.seen import day_start, seen_day, zone


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "zone_name", "start", "day"),
    [
        # Amsterdam in winter (UTC+1) and in summer (UTC+2)
        ("2026-11-24 21:40", "Europe/Amsterdam", "2026-11-23 23:00", date(2026, 11, 24)),
        ("2026-11-24 23:30", "Europe/Amsterdam", "2026-11-24 23:00", date(2026, 11, 25)),
        ("2026-06-10 21:59", "Europe/Amsterdam", "2026-06-09 22:00", date(2026, 6, 10)),
        ("2026-06-10 22:00", "Europe/Amsterdam", "2026-06-10 22:00", date(2026, 6, 11)),
        # the days the clocks change: midnight is before the change, in the old offset
        ("2026-03-29 12:00", "Europe/Amsterdam", "2026-03-28 23:00", date(2026, 3, 29)),
        ("2026-10-25 12:00", "Europe/Amsterdam", "2026-10-24 22:00", date(2026, 10, 25)),
        # another zone, and a name this machine does not know (UTC's day)
        ("2026-11-25 03:10", "America/New_York", "2026-11-24 05:00", date(2026, 11, 24)),
        ("2026-11-24 21:40", "Mars/Olympus", "2026-11-24 00:00", date(2026, 11, 24)),
        ("2026-11-24 21:40", None, "2026-11-24 00:00", date(2026, 11, 24)),
    ],
)
def test_a_contact_is_kept_as_the_school_day_it_falls_on(
    now: str, zone_name: str | None, start: str, day: date
) -> None:
    """The stored value is the UTC moment the school-local day began; shown, it is that day."""
    tz = zone(zone_name)
    assert day_start(at(now), tz) == at(start)
    assert seen_day(day_start(at(now), tz), tz) == day


@pytest.mark.parametrize(
    ("last_seen", "now", "due"),
    [
        (None, "2026-11-24 07:00", True),  # never seen
        ("2026-11-23 23:00", "2026-11-24 07:00", False),  # seen this morning
        ("2026-11-23 23:00", "2026-11-24 22:59", False),  # 23:59 in Amsterdam: the same day
        ("2026-11-23 23:00", "2026-11-24 23:00", True),  # midnight in Amsterdam
        ("2026-11-24 07:12", "2026-11-24 08:00", True),  # a time kept by an older collector
    ],
)
def test_last_seen_is_written_on_the_first_contact_of_a_day(
    last_seen: str | None, now: str, due: bool
) -> None:
    """One write per device per school day, whatever the number of requests."""
    stored = at(last_seen) if last_seen else None
    assert touch_due(stored, at(now), "Europe/Amsterdam") is due
