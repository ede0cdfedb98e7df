"""The sync plan: what a re-import changes, as data, before anything is written.

Stored lessons and imported occurrences are matched by ``(source, uid, recurrence_id)``, so a
re-import updates a lesson in place instead of adding a second one. Only stored lessons of the
same source inside the import's window take part (or outside it, when the import has their key):
a re-import of this school year never touches last year, nor lessons another source brought in.
Stored lessons that ended before ``now`` are history (reports point at them) and are never
changed or removed; imported occurrences that ended before ``now`` are not added either. Both
are counted as ``frozen``. A lesson that has not ended yet is updated even when the source
moves it into the past, so it is no longer monitored at its old time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from service.timetable.model import ImportResult, Key, Occurrence


@dataclass(frozen=True)
class Change:
    before: Occurrence
    after: Occurrence


@dataclass(frozen=True)
class Plan:
    inserts: tuple[Occurrence, ...]
    updates: tuple[Change, ...]
    cancellations: tuple[Change, ...]  # was planned, the source now cancels it
    removals: tuple[Occurrence, ...]  # gone from the source
    unchanged: int
    frozen: int

    @property
    def empty(self) -> bool:
        return not (self.inserts or self.updates or self.cancellations or self.removals)


def _by_key(occurrences: Iterable[Occurrence], what: str) -> dict[Key, Occurrence]:
    found: dict[Key, Occurrence] = {}
    for occurrence in occurrences:
        if occurrence.key in found:
            raise ValueError(f"{what} holds {occurrence.key} twice")
        found[occurrence.key] = occurrence
    return found


def plan_sync(existing: Iterable[Occurrence], imported: ImportResult, *, now: datetime) -> Plan:
    """Inserts, updates, cancellations and removals that make storage match the import."""
    window = imported.window
    fresh = _by_key(imported.occurrences, "the import")
    # A stored lesson outside the window still matches when the import has its key: it moved in.
    stored = _by_key(
        (
            o
            for o in existing
            if o.source == imported.source and (window.overlaps(o.start, o.end) or o.key in fresh)
        ),
        "the stored lessons",
    )
    inserts, updates, cancellations, removals = [], [], [], []
    unchanged = frozen = 0
    for key, after in fresh.items():
        before = stored.get(key)
        if (before is not None and before.end <= now) or (before is None and after.end <= now):
            frozen += 1
        elif before is None:
            inserts.append(after)
        elif before.same_lesson(after):
            unchanged += 1
        elif after.cancelled and not before.cancelled:
            cancellations.append(Change(before, after))
        else:
            updates.append(Change(before, after))
    for key, before in stored.items():
        if key not in fresh:
            if before.end <= now:
                frozen += 1
            else:
                removals.append(before)
    return Plan(
        inserts=tuple(inserts),
        updates=tuple(updates),
        cancellations=tuple(cancellations),
        removals=tuple(removals),
        unchanged=unchanged,
        frozen=frozen,
    )


def apply_plan(existing: Iterable[Occurrence], plan: Plan) -> list[Occurrence]:
    """The stored lessons after the plan: what the collector's writes must amount to."""
    result = _by_key(existing, "the stored lessons")
    for gone in plan.removals:
        del result[gone.key]
    for change in (*plan.updates, *plan.cancellations):
        result[change.after.key] = change.after
    for new in plan.inserts:
        result[new.key] = new
    return sorted(result.values(), key=lambda o: (o.start, o.key))
