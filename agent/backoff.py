"""Retry timing, pure: capped exponential backoff with full jitter, and ``Retry-After``.

The cap is applied before the jitter, so agents that all failed at the same moment spread over
the whole window instead of converging on the cap (fleetdm/fleet PR #53357).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

BASE_SECONDS = 5.0
CAP_SECONDS = 900.0
MAX_RETRY_AFTER = 24 * 3600.0


def delay(
    attempt: int,
    rand: Callable[[], float],
    *,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
    window = min(cap, base * float(2 ** min(attempt, 32)))
    return float(rand() * window)


def retry_after(header: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent or bad."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)
