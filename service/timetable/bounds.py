"""An upper bound on the work a recurrence rule needs before the window ends, computed first.

The recurrence library expands a rule from its DTSTART up to the window's end, so a rule that
repeats every second, or every day since 1900, costs time before the first occurrence in the
window appears. This bound is computed from the rule's text alone, without expanding it, and
the importer refuses a rule whose bound is over the limit. It overestimates (a month counts
as 28 days, a BYDAY in a monthly rule as five days per weekday), never underestimates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

_PERIOD = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}
# Finer parts a rule of each frequency can expand into (RFC 5545 §3.3.10, "expand" cells).
_TIME_PARTS = {
    "SECONDLY": (),
    "MINUTELY": ("BYSECOND",),
    "HOURLY": ("BYMINUTE", "BYSECOND"),
}
_DAY_AND_FINER = ("BYHOUR", "BYMINUTE", "BYSECOND")


def _count(rule: Mapping[str, Sequence[Any]], part: str) -> int:
    return max(1, len(rule.get(part, ())))


def _days_per_period(rule: Mapping[str, Sequence[Any]], freq: str) -> int:
    if freq == "WEEKLY":
        return _count(rule, "BYDAY")
    if freq == "MONTHLY":
        if "BYMONTHDAY" in rule:
            return _count(rule, "BYMONTHDAY")
        return (
            sum(1 if str(d)[:1] in "+-0123456789" else 5 for d in rule.get("BYDAY", ["x"]))
            if "BYDAY" in rule
            else 1
        )
    if freq == "YEARLY":
        day_parts = ("BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY")
        return 366 if any(p in rule for p in day_parts) else 1
    return 1


def _as_datetime(value: date | datetime, like: datetime) -> datetime:
    if isinstance(value, datetime):
        if (value.tzinfo is None) != (like.tzinfo is None):
            return value.replace(tzinfo=like.tzinfo)
        return value
    return datetime(value.year, value.month, value.day, tzinfo=like.tzinfo)


def expansion_bound(
    rule: Mapping[str, Sequence[Any]], dtstart: date | datetime, until: datetime
) -> int:
    """How many repetitions a rule can generate from ``dtstart`` up to ``until`` at most."""
    freq = str(rule.get("FREQ", ["?"])[0]).upper()
    period = _PERIOD.get(freq)
    if period is None:
        return 0  # the library refuses such a rule itself; nothing to bound
    interval = max(1, int(rule.get("INTERVAL", [1])[0]))
    start = _as_datetime(dtstart, until)
    end = until
    if rule.get("UNTIL"):
        end = min(end, _as_datetime(rule["UNTIL"][0], until))
    if end < start:
        return 0
    periods = (end - start) // (period * interval) + 1
    parts = _TIME_PARTS.get(freq, _DAY_AND_FINER)
    per_period = _days_per_period(rule, freq)
    for part in parts:
        per_period *= _count(rule, part)
    bound = periods * per_period
    if rule.get("COUNT"):
        bound = min(bound, int(rule["COUNT"][0]))
    return bound
