"""Errors raised by the timetable importers.

TimetableError            something about a timetable input is wrong; nothing was imported
├── InputTooLarge         the input is over the size limit; it was refused before parsing
├── MalformedInput        the input cannot be read as its format at all (file and line given)
├── LimitExceeded         the input would expand past a bound (window, occurrences, steps)
├── ImportRefused         some entries are wrong; every problem is listed, nothing is kept
└── MappingError          a per-source mapping is invalid
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One wrong entry, located so an admin can go straight to it."""

    source: str
    message: str
    line: int | None = None
    uid: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        if self.uid is not None:
            where += f" (UID {self.uid[:80]!r})"
        return f"{where}: {self.message}"


class TimetableError(ValueError):
    """A timetable input that cannot be imported; the message names file, line or UID."""

    def __init__(self, message: str, *, source: str = "<input>", line: int | None = None):
        self.problem = Problem(source, message, line)
        super().__init__(str(self.problem))


class InputTooLarge(TimetableError):
    """The input is larger than the configured limit; none of it was parsed."""


class MalformedInput(TimetableError):
    """The input is not a well-formed file of its format."""


class LimitExceeded(TimetableError):
    """Importing would exceed a bound on the window, the occurrences or the expansion work."""


class MappingError(TimetableError):
    """A per-source mapping from calendar fields to lesson fields is invalid."""


class ImportRefused(TimetableError):
    """One or more entries are wrong. ``problems`` lists them (up to the problem limit)."""

    def __init__(self, problems: Sequence[Problem], *, source: str, more: int = 0):
        self.problems = tuple(problems)
        self.more = more
        lines = [str(p) for p in self.problems]
        if more:
            lines.append(f"... and {more} more problems")
        count = len(self.problems) + more
        head = f"{count} problem{'s' if count != 1 else ''}; nothing was imported"
        super().__init__(head + "\n" + "\n".join(lines), source=source)
