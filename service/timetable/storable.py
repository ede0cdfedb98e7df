"""What the collector can store: every lesson belongs to a group, so lessons without one are
refused (or, for a partial import, left out and listed) before anything is written."""

from __future__ import annotations

from dataclasses import replace

from service.timetable.errors import ImportRefused, Problem
from service.timetable.limits import Limits
from service.timetable.model import ImportResult


def require_groups(
    result: ImportResult, *, name: str, partial: bool, limits: Limits | None = None
) -> ImportResult:
    """The result unchanged when every lesson has a group; otherwise refused or trimmed."""
    limits = limits or Limits()
    missing = [o for o in result.occurrences if o.group is None]
    if not missing:
        return result
    seen: set[str] = set()
    problems = []
    for occurrence in missing:
        if occurrence.uid not in seen:
            seen.add(occurrence.uid)
            problems.append(
                Problem(
                    name,
                    "the lesson has no group: give one with --group or a mapping that reads it",
                    uid=occurrence.uid,
                )
            )
    listed, more = problems[: limits.max_problems], max(0, len(problems) - limits.max_problems)
    if not partial:
        raise ImportRefused(listed, source=name, more=more)
    kept = tuple(o for o in result.occurrences if o.group is not None)
    return replace(result, occurrences=kept, problems=(*result.problems, *listed))
