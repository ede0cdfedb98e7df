"""Counting what an import left out, and examples of values the mapping did not fit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from service.timetable.errors import Problem
from service.timetable.model import ImportResult, Occurrence, Window

EXAMPLES = 3


class Tally:
    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self.unmatched_counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def unmatched(self, field: str, value: str) -> None:
        self.unmatched_counts[field] += 1
        examples = self.examples.setdefault(field, [])
        if len(examples) < EXAMPLES and value[:80] not in examples:
            examples.append(value[:80])

    def result(
        self,
        source: str,
        window: Window,
        occurrences: Iterable[Occurrence],
        problems: tuple[Problem, ...],
    ) -> ImportResult:
        ordered = sorted(occurrences, key=lambda o: (o.start, o.uid, o.recurrence_id))
        return ImportResult(
            source=source,
            window=window,
            occurrences=tuple(ordered),
            skipped=dict(self.skipped),
            unmatched={k: tuple(v) for k, v in self.examples.items()},
            unmatched_counts=dict(self.unmatched_counts),
            problems=problems,
        )
