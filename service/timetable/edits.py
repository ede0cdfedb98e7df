"""Admins' edits of single lessons, kept through the next sync (issue 6).

An admin who moves, cancels, marks remote or gives a lesson another teacher or room knows
something the timetable system does not (yet). The stored lesson remembers which fields were
edited; before a sync plans, ``keep_edits`` puts those fields of the incoming occurrence back
to the stored values, so the plan leaves them alone and still applies every other change the
source makes (a lesson whose room the admin changed is still cancelled when the source cancels
it). A lesson the source drops is removed as before: it no longer exists to be edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from service.timetable.model import ImportResult, Key, Occurrence

# "time" covers start and end together: a moved lesson keeps both.
EDITABLE = ("time", "teacher", "room", "remote", "cancelled")
_FIELDS = {
    "time": ("start", "end"),
    "teacher": ("teacher",),
    "room": ("room",),
    "remote": ("remote",),
    "cancelled": ("cancelled",),
}


def check_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """The edited fields in a fixed order; refuses names that are not editable."""
    found = set(fields)
    unknown = found - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    return tuple(f for f in EDITABLE if f in found)


def keep_edits(
    imported: ImportResult,
    stored: Iterable[Occurrence],
    edits: Mapping[Key, Iterable[str]],
) -> ImportResult:
    """The import with each edited lesson's edited fields as they are stored."""
    if not edits:
        return imported
    by_key = {o.key: o for o in stored if o.key in edits}
    kept = []
    for fresh in imported.occurrences:
        before = by_key.get(fresh.key)
        if before is None:
            kept.append(fresh)
            continue
        values = {
            name: getattr(before, name)
            for field in check_fields(edits[fresh.key])
            for name in _FIELDS[field]
        }
        kept.append(replace(fresh, **values))
    kept.sort(key=lambda o: (o.start, o.key))
    return replace(imported, occurrences=tuple(kept))
