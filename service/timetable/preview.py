"""What an import will do, for an admin to read before saying yes: one dict, JSON-ready.

The same dict feeds the admin page, the CLI's ``--dry-run`` and the JSON API, so all three say
the same thing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from policies.wire import format_time
from service.timetable.diff import Change, Plan
from service.timetable.model import ImportResult, Occurrence

EXAMPLES = 5


def _lesson(o: Occurrence) -> dict[str, Any]:
    return {
        "uid": o.uid,
        "recurrence_id": o.recurrence_id,
        "start": format_time(o.start),
        "end": format_time(o.end),
        "group": o.group,
        "subject": o.subject,
        "teacher": o.teacher,
        "room": o.room,
        "remote": o.remote,
        "cancelled": o.cancelled,
        "changes": list(o.changes),
    }


def _change(c: Change) -> dict[str, Any]:
    return {"before": _lesson(c.before), "after": _lesson(c.after)}


def preview(result: ImportResult, plan: Plan | None = None) -> dict[str, Any]:
    """Counts, per-group totals, what was left out and why, and examples of each change."""
    lessons = result.occurrences
    groups = Counter(o.group for o in lessons if o.group is not None)
    summary: dict[str, Any] = {
        "source": result.source,
        "window": {
            "start": format_time(result.window.start),
            "end": format_time(result.window.end),
        },
        "lessons": len(lessons),
        "cancelled": sum(o.cancelled for o in lessons),
        "remote": sum(o.remote for o in lessons),
        "without_group": sum(o.group is None for o in lessons),
        "groups": dict(sorted(groups.items())),
        "first": format_time(lessons[0].start) if lessons else None,
        "last": format_time(lessons[-1].start) if lessons else None,
        "skipped": dict(sorted(result.skipped.items())),
        "unmatched": {
            prop: {"count": count, "examples": list(result.unmatched.get(prop, ()))}
            for prop, count in sorted(result.unmatched_counts.items())
        },
        "problems": [str(p) for p in result.problems],
        # The same, as message ids and values, for a page to show in the reader's language.
        "problem_messages": [
            {"where": p.where, "msgid": p.msgid or p.message, "params": dict(p.params)}
            for p in result.problems
        ],
    }
    if plan is not None:
        summary["plan"] = {
            "inserts": len(plan.inserts),
            "updates": len(plan.updates),
            "cancellations": len(plan.cancellations),
            "removals": len(plan.removals),
            "unchanged": plan.unchanged,
            "frozen": plan.frozen,
            "examples": {
                "inserts": [_lesson(o) for o in plan.inserts[:EXAMPLES]],
                "updates": [_change(c) for c in plan.updates[:EXAMPLES]],
                "cancellations": [_change(c) for c in plan.cancellations[:EXAMPLES]],
                "removals": [_lesson(o) for o in plan.removals[:EXAMPLES]],
            },
        }
    return summary
