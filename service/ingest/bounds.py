"""What one device may claim about one lesson: pure checks of a summary against its lesson and
the windows the device already sent for it (docs/api.md lists the reasons).

The wire format alone allows any window up to 12 hours, in any year; a device's summaries for
one lesson were added up without limit. Here a summary must lie in its lesson (with
``MARGIN`` either side, for clocks a little off and agents that start early or stop late), no
number may exceed the lesson's length, and a device sends at most ``MAX_SUMMARIES_PER_LESSON``
for one lesson, which bounds what one device can make the collector store.

Overlapping windows are not refused here: the report counts each device's seconds at most once
per lesson (``reports.numbers`` caps them at the lesson's length), which also covers rows
stored before these checks and two summaries stored at the same moment by two transactions,
which no check at insert time sees. Refusing overlaps as well would add a second rule that
still needs the cap behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from policies.wire import LessonSummary

MARGIN = timedelta(minutes=5)
# An agent restarted mid-lesson sends one summary per run; 30 runs in one lesson (a restart
# every 90 seconds of a 45-minute lesson) is already a broken laptop, and the bound keeps one
# device from growing the table without end (500 summaries a request were about 1 MB).
# The default of the setting ``max_summaries_per_lesson``.
MAX_SUMMARIES_PER_LESSON = 30
# Summaries the agent's outbox dropped since its last upload (it holds 2000 and keeps 30 days).
MAX_DROPPED = 10_000

OUTSIDE_LESSON = "started_at and ended_at must lie within the lesson, give or take 5 minutes"
TOO_MANY = "the device already sent the most summaries allowed for this lesson"
DROPPED = f"dropped must be at most {MAX_DROPPED}"
MONITORED = "coverage.seconds_monitored is longer than the lesson"
UNREADABLE = "the summary could not be read"


@dataclass(frozen=True)
class Window:
    report_id: str
    started_at: datetime
    ended_at: datetime


def summary_problem(
    summary: LessonSummary,
    *,
    lesson_start: datetime,
    lesson_end: datetime,
    sent: Sequence[Window],
    most: int = MAX_SUMMARIES_PER_LESSON,
) -> str | None:
    """Why ``summary`` cannot be stored for its lesson, given the windows ``sent`` for it by the
    same device; None if it can. A window with the summary's own report id is its retry, which
    is answered as a duplicate further on."""
    if summary.started_at < lesson_start - MARGIN or summary.ended_at > lesson_end + MARGIN:
        return OUTSIDE_LESSON
    length = (lesson_end - lesson_start).total_seconds()
    if summary.coverage.seconds_monitored > length:
        return MONITORED
    for i, f in enumerate(summary.findings):
        if f.seconds > length:
            return f"findings[{i}].seconds is longer than the lesson"
        # The agent counts an episode per sample with activity: never more than its seconds.
        if f.episodes > f.seconds:
            return f"findings[{i}].episodes must be at most its seconds"
    if summary.dropped > MAX_DROPPED:
        return DROPPED
    # Distinct ids: a retry of a stored summary is in ``sent`` twice once this group holds it.
    others = {w.report_id for w in sent} - {summary.report_id}
    if len(others) >= most:
        return TOO_MANY
    return None
