"""The CSV layout as data: each column with its English and its Dutch name, and the formats.

One table serves the parser (``csvimport``) and the upload page, so the page lists exactly what
the parser accepts (issue 17, point 9): a column added here is read and shown at once. Dutch
spreadsheets come from Dutch admins (``datum;begin;eind;klas;vak;docent;lokaal``), English
ones from exports; a header may even mix the two, since each column is known by either name.

The texts a person reads (``meaning``, the format names) are message ids marked with ``N_``;
the collector's catalog translates them where they are shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from service.timetable.errors import N_

Language = Literal["en", "nl"]
LANGUAGES: tuple[Language, ...] = ("nl", "en")


@dataclass(frozen=True)
class Column:
    """One column: the lesson field it fills (``key``), its name per language, whether a row
    needs it, what it holds (a msgid) and an example value as a Dutch school would write it."""

    key: str
    en: str
    nl: str
    required: bool
    meaning: str
    example: str

    def name(self, language: Language) -> str:
        return self.nl if language == "nl" else self.en


COLUMNS: tuple[Column, ...] = (
    Column("date", "date", "datum", True, N_("the lesson's day"), "15-09-2025"),
    Column("start", "start", "begin", True, N_("start, the school's local time"), "08:30"),
    Column("end", "end", "eind", True, N_("end, the same day"), "09:20"),
    Column("group", "group", "klas", True, N_("the group (class)"), "3B"),
    Column("subject", "subject", "vak", False, N_("the subject"), "wi"),
    Column("teacher", "teacher", "docent", False, N_("the teacher's code"), "jdv"),
    Column("room", "room", "lokaal", False, N_("the room"), "217"),
    Column("remote", "remote", "online", False, N_("a remote lesson: yes or no"), "nee"),
    Column("cancelled", "cancelled", "vervallen", False, N_("cancelled: yes or no"), "nee"),
    Column("uid", "uid", "uid", False, N_("a stable id of the row"), "les-17"),
)
REQUIRED: tuple[str, ...] = tuple(c.key for c in COLUMNS if c.required)

# The formats of a date and a time, each with an example; the parser's patterns match exactly
# these (``csvimport``), and the page shows them.
DATE_FORMATS: tuple[tuple[str, str], ...] = (
    (N_("DD-MM-YYYY"), "15-09-2025"),
    (N_("YYYY-MM-DD"), "2025-09-15"),
)
TIME_FORMATS: tuple[tuple[str, str], ...] = ((N_("HH:MM"), "08:30"), (N_("HH.MM"), "8.30"))
# Yes and no in a flag column (remote, cancelled), in either language; an empty cell is no.
YES: tuple[str, ...] = ("ja", "j", "x", "1", "waar", "yes", "y", "true")
NO: tuple[str, ...] = ("nee", "n", "0", "onwaar", "no", "false")
DELIMITERS = ";,\t"

BY_KEY: Mapping[str, Column] = {c.key: c for c in COLUMNS}
_BY_NAME: Mapping[str, Column] = {n: c for c in COLUMNS for n in (c.en, c.nl)}


def column_named(cell: str) -> Column | None:
    """The column a header cell names: any case, spaces around it ignored; None if unknown."""
    return _BY_NAME.get(cell.strip().casefold())


def language_of(cells: Iterable[str]) -> Language:
    """The language a header row is written in: Dutch when more of its known names are Dutch
    than English (a name both languages share, such as ``uid``, counts for neither)."""
    dutch = english = 0
    for cell in cells:
        name = cell.strip().casefold()
        column = _BY_NAME.get(name)
        if column is None or column.nl == column.en:
            continue
        dutch += name == column.nl
        english += name == column.en
    return "nl" if dutch > english else "en"


def names(language: Language, *, required: bool | None = None) -> str:
    """The column names in ``language``, quoted and comma-separated, for a message."""
    chosen = (c for c in COLUMNS if required is None or c.required == required)
    return ", ".join(repr(c.name(language)) for c in chosen)


def example(language: Language) -> str:
    """A header and one row in ``language``, separated by semicolons as a Dutch spreadsheet
    program saves them."""
    header = ";".join(c.name(language) for c in COLUMNS)
    return header + "\n" + ";".join(c.example for c in COLUMNS)
