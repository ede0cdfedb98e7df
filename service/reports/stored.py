"""Stored summaries read back for counting: a row that no longer parses is quarantined.

Rows were stored by older collectors with weaker checks (a year-1 time was written back as
``1-01-01T00:00:00Z``, which the parser refuses). Such a row must not take a lesson's report,
its group's trend, the escalations page, the export or the purge down with it: it is left out,
logged with its id, and counted as ``unreadable`` in the report's coverage. Migration 0010
deletes the rows that were already unreadable when it ran.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from policies.wire import LessonSummary, parse_summary

log = logging.getLogger("lessonwatch.service")


def readable(
    rows: Iterable[tuple[int, str, dict[str, Any]]],
) -> tuple[list[tuple[str, LessonSummary]], int]:
    """``(device_id, summary)`` of the rows ``(row id, device id, stored summary)`` that parse,
    and how many did not."""
    out: list[tuple[str, LessonSummary]] = []
    unreadable = 0
    for row_id, device_id, data in rows:
        try:
            out.append((device_id, parse_summary(data)))
        except Exception as exc:  # any failure of one row is that row's, never the read's
            unreadable += 1
            log.warning("summary row %s is unreadable and left out: %s", row_id, exc)
    return out, unreadable
