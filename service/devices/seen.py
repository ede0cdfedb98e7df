"""``last_seen`` at day granularity (issue 15, "quiet outside the school day").

The collector keeps only the school-local day a device was last heard from, never the time:
a laptop that polls at 21:40 from a pupil's home shows as seen that day, not that evening. The
day is stored as the UTC instant it began in the school's time zone (the column stays an aware
datetime on both backends) and shown as a date in that zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

# The school's zone; UTC for a name this machine does not know (the day is then UTC's).
from policies.localtime import zone

__all__ = ["day_start", "seen_day", "zone"]


def day_start(now: datetime, tz: ZoneInfo) -> datetime:
    """When the school-local day holding ``now`` began, in UTC: the value stored as last_seen."""
    local_day = now.astimezone(tz).date()
    return datetime.combine(local_day, time(0), tzinfo=tz).astimezone(UTC)


def seen_day(last_seen: datetime | None, tz: ZoneInfo) -> date | None:
    """The school-local day of a stored last_seen, as pages, the CLI and the export show it."""
    return None if last_seen is None else last_seen.astimezone(tz).date()
