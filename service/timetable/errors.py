"""Errors raised by the timetable importers.

TimetableError            something about a timetable input is wrong; nothing was imported
├── InputTooLarge         the input is over the size limit; it was refused before parsing
├── MalformedInput        the input cannot be read as its format at all (file and line given)
├── LimitExceeded         the input would expand past a bound (window, occurrences, steps)
├── ImportRefused         some entries are wrong; every problem is listed, nothing is kept
└── MappingError          a per-source mapping is invalid

Like the collector's ``ServiceError``, each error carries a message id, the English sentence
with ``%(name)s`` placeholders, and the values that fill them in, so a page can show it in the
reader's language; ``message`` is the English text. The classes below are extraction keywords
of the collector's catalog (docs/translations.md): raise them with a string literal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def N_(msgid: str) -> str:  # the conventional gettext name, which the extractors know
    """Marks a text as a message id without translating it (``service.locale.N_`` for the
    timetable code, which imports nothing else of the collector)."""
    return msgid


@dataclass(frozen=True)
class Problem:
    """One wrong entry, located so an admin can go straight to it."""

    source: str
    message: str
    line: int | None = None
    uid: str | None = None
    # The message's id and values; an empty msgid means the message is its own id.
    msgid: str = field(default="", compare=False)
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def where(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        if self.uid is not None:
            where += f" (UID {self.uid[:80]!r})"
        return where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class TimetableError(ValueError):
    """A timetable input that cannot be imported; the message names file, line or UID."""

    def __init__(
        self,
        message: str,
        /,
        *,
        source: str = "<input>",
        line: int | None = None,
        **params: Any,
    ):
        text = message % params if params else message
        self.problem = Problem(source, text, line, msgid=message, params=params)
        super().__init__(str(self.problem))

    def at(self, source: str) -> TimetableError:
        """The same error, located in ``source`` instead (a mapping checked inside a file)."""
        return type(self)(
            self.problem.msgid, source=source, line=self.problem.line, **self.problem.params
        )

    @property
    def msgid(self) -> str:
        """The message id of what is wrong, with its place: "%(where)s: <the problem>"."""
        return "%(where)s: %(problem)s"

    @property
    def params(self) -> Mapping[str, Any]:
        return {"where": self.problem.where, "problem": _Said(self.problem)}


@dataclass(frozen=True)
class _Said:
    """A problem's message as a parameter of another message: English when formatted with %s,
    and translatable by whoever translates the outer message (it has a msgid and params)."""

    problem: Problem

    @property
    def msgid(self) -> str:
        return self.problem.msgid or self.problem.message

    @property
    def params(self) -> Mapping[str, Any]:
        return self.problem.params

    def __str__(self) -> str:
        return self.problem.message


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
