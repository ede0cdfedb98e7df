"""CSV headers in Dutch and English (issue 17, point 9): every column under either name, and
errors that name a column as the file does, translatable."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.timetable import ImportRefused, MalformedInput
from service.timetable.csvcolumns import (
    COLUMNS,
    DATE_FORMATS,
    YES,
    column_named,
    example,
    language_of,
)
from service.timetable.errors import Problem
from service.web.i18n import Translate
from tests.timetable.helpers import import_text

ROW = "15-09-2025;8.30;09:20;3B;wi;jdv;217"
LESSON = ("3B", "wi", "jdv", "217", datetime(2025, 9, 15, 6, 30, tzinfo=UTC))


def lessons(text: str) -> list[tuple[object, ...]]:
    return [(o.group, o.subject, o.teacher, o.room, o.start) for o in import_text(text).occurrences]


def problem_of(text: str) -> Problem:
    with pytest.raises((ImportRefused, MalformedInput)) as caught:
        import_text(text)
    error = caught.value
    return error.problems[0] if isinstance(error, ImportRefused) else error.problem


@pytest.mark.parametrize(
    "header",
    [
        # Dutch, as the admin typed it
        "datum;begin;eind;klas;vak;docent;lokaal",
        # English, as the documented layout
        "date;start;end;group;subject;teacher;room",
        # mixed: each column by either name
        "datum;start;eind;group;vak;teacher;lokaal",
        # any case, spaces around a name
        " Datum ; BEGIN;Eind ;Klas;VAK;Docent;Lokaal",
        # a byte-order mark before the first name (Excel's "CSV UTF-8")
        "\ufeffdatum;begin;eind;klas;vak;docent;lokaal",
    ],
)
def test_each_column_is_read_under_its_dutch_or_english_name(header: str) -> None:
    """Dutch, English and mixed headers, in any case and spacing, give the same lesson."""
    assert lessons(f"{header}\n{ROW}\n") == [LESSON]


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_a_dutch_header_with_each_delimiter(delimiter: str) -> None:
    """Semicolons, commas and tabs separate Dutch columns as they do English ones."""
    header = delimiter.join(["datum", "begin", "eind", "klas", "vak", "docent", "lokaal"])
    assert lessons(f"{header}\n{ROW.replace(';', delimiter)}\n") == [LESSON]


def test_the_flags_and_uid_under_their_dutch_names() -> None:
    """``online`` and ``vervallen`` are the remote and cancelled flags; ``uid`` keys the row."""
    text = "datum;begin;eind;klas;online;vervallen;uid\n15-09-2025;08:30;09:20;3B;ja;x;les-7\n"
    (lesson,) = import_text(text).occurrences
    assert (lesson.remote, lesson.cancelled, lesson.uid) == (True, True, "les-7")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        # missing required columns, named in the header's language
        ("datum;begin;eind;vak", "the header lacks 'klas'"),
        ("date;start;end;subject", "the header lacks 'group'"),
        ("datum;eind;vak", "the header lacks 'begin', 'klas'"),
        ("vak;docent;lokaal", "the header lacks 'datum', 'begin', 'eind', 'klas'"),
        # mostly English with one Dutch name: English
        ("date;start;end;vak", "the header lacks 'group'"),
        # unknown columns: the accepted names in the header's language
        (
            "datum;begin;eind;klas;leraar",
            "unknown column 'leraar'; the columns are 'datum', 'begin'",
        ),
        ("date;start;end;group;lesson", "unknown column 'lesson'; the columns are 'date', 'start'"),
        ("datum;begin;eind;klas;", "unknown column ''"),
        # duplicate columns: one column under two names, or one name twice in any case
        ("datum;begin;eind;klas;group", "columns 'klas' and 'group' are the same column; keep one"),
        ("date;datum;start;end;group", "columns 'date' and 'datum' are the same column; keep one"),
        ("datum;begin;eind;klas;Klas", "column 'klas' appears twice in the header"),
    ],
)
def test_a_wrong_header_is_refused_naming_the_columns_as_the_file_does(
    header: str, message: str
) -> None:
    """Missing, unknown and duplicate columns are refused on line 1, nothing imported."""
    problem = problem_of(f"{header}\n{ROW}\n")
    assert problem.line == 1
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        # Dutch header: Dutch column names
        ("datum;begin;eind;klas", "15-09-2025;8u30;09:20;3B", "'begin' '8u30' is not a time"),
        ("datum;begin;eind;klas", "15-09-2025;08:30;08:20;3B", "'eind' 08:20 is not after 'begin'"),
        ("datum;begin;eind;klas", "gisteren;08:30;09:20;3B", "'datum' 'gisteren' is not a date"),
        ("datum;begin;eind;klas", "15-09-2025;08:30;09:20;", "'klas' is empty"),
        ("datum;begin;eind;klas;online", "15-09-2025;08:30;09:20;3B;soms", "'online' 'soms'"),
        # English header: English names
        ("date;start;end;group", "15-09-2025;8u30;09:20;3B", "'start' '8u30' is not a time"),
        ("date;start;end;group;remote", "15-09-2025;08:30;09:20;3B;soms", "'remote' 'soms'"),
        # mixed: each column as written
        (
            "datum;start;eind;group",
            "15-09-2025;08:30;08:20;3B",
            "'eind' 08:20 is not after 'start'",
        ),
    ],
)
def test_a_wrong_row_names_its_column_as_the_header_does(
    header: str, row: str, message: str
) -> None:
    """A row's error says ``begin`` to a file that says ``begin`` and ``start`` to one that says
    ``start``."""
    problem = problem_of(f"{header}\n{row}\n")
    assert problem.line == 2
    assert problem.message.startswith(message)


def test_a_repeated_row_names_the_key_columns_in_the_header_language() -> None:
    """The columns that key a row without a uid are named as the header names them; the uid the
    file lacks, in the header's language."""
    row = "15-09-2025;08:30;09:20;3B"
    problem = problem_of(f"datum;begin;eind;klas\n{row}\n{row}\n")
    assert problem.message == (
        "this row repeats line 2 (the same 'uid', or the same 'datum', 'begin' and 'klas'): "
        "give each row its own 'uid'"
    )


@pytest.mark.parametrize(
    ("text", "dutch"),
    [
        ("datum;begin;eind;vak\n", "in de kopregel ontbreekt 'klas'"),
        ("datum;begin;eind;klas;group\n", "de kolommen 'klas' en 'group' zijn dezelfde kolom;"),
        ("datum;begin;eind;klas\n15-09-2025;8u30;09:20;3B\n", "'begin' '8u30' is geen tijd"),
        ("date;start;end;group;remote\n15-09-2025;08:30;09:20;3B;?\n", "'remote' '?' is geen"),
    ],
)
def test_errors_carry_a_msgid_and_values_and_read_in_dutch(text: str, dutch: str) -> None:
    """A page translates header and row errors; a column name stays as the file wrote it (the
    English ``remote`` is not turned into a Dutch word)."""
    problem = problem_of(text)
    assert problem.msgid and problem.params
    assert Translate("nl").message(problem.msgid, problem.params).startswith(dutch)


def test_the_example_is_a_file_the_parser_reads() -> None:
    """The example the upload page shows, in either language, imports as one lesson."""
    for language in ("nl", "en"):
        assert len(import_text(example(language) + "\n").occurrences) == 1


def test_every_yes_reads_as_yes() -> None:
    """The yes-words the page lists are the ones the parser takes."""
    rows = "".join(f"1{n}-09-2025;08:30;09:20;3B;{word}\n" for n, word in enumerate(YES))
    assert all(o.remote for o in import_text("datum;begin;eind;klas;online\n" + rows).occurrences)


def test_every_name_of_every_column_is_known() -> None:
    """Each column is found under both names; the header language follows the majority."""
    for column in COLUMNS:
        assert column_named(f" {column.nl.upper()} ") is column_named(column.en) is column
    assert language_of(["datum", "start", "eind", "uid"]) == "nl"
    assert language_of(["date", "begin", "end", "uid"]) == "en"


@st.composite
def headers(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """All the columns, in any order, each by either name in any case with spaces around it;
    and the row's values in the same order."""
    values = {
        "date": "15-09-2025",
        "start": "08:30",
        "end": "09:20",
        "group": "3B",
        "subject": "wi",
        "teacher": "jdv",
        "room": "217",
        "remote": "nee",
        "cancelled": "ja",
        "uid": "les-1",
    }
    order = draw(st.permutations(COLUMNS))
    cells = []
    for column in order:
        name = draw(st.sampled_from([column.nl, column.en]))
        name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
        cells.append(draw(st.sampled_from(["", " "])) + name + draw(st.sampled_from(["", "  "])))
    return cells, [values[c.key] for c in order]


@given(headers(), st.sampled_from([";", ",", "\t"]))
def test_any_permutation_of_the_known_headers_parses_the_same_rows(
    header: tuple[list[str], list[str]], delimiter: str
) -> None:
    """Whatever the order, language, case and spacing of the names, the lesson is the same."""
    cells, values = header
    (lesson,) = import_text(
        delimiter.join(cells) + "\n" + delimiter.join(values) + "\n"
    ).occurrences
    assert (lesson.uid, lesson.group, lesson.subject, lesson.teacher, lesson.room) == (
        "les-1",
        "3B",
        "wi",
        "jdv",
        "217",
    )
    assert (lesson.start, lesson.remote, lesson.cancelled) == (LESSON[4], False, True)


DOCS = Path(__file__).parents[2] / "docs" / "timetable.md"
DOC_ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \|.*\| (required|optional) \|$", re.M)


def test_the_documented_column_table_is_the_parsers() -> None:
    """docs/timetable.md lists every column under both names, required as the parser has it."""
    csv_section = DOCS.read_text().split("### CSV\n", 1)[1].split("\n## ", 1)[0]
    documented = [(nl, en, need == "required") for nl, en, need in DOC_ROW.findall(csv_section)]
    assert documented == [(c.nl, c.en, c.required) for c in COLUMNS]


def test_the_documented_dutch_and_english_examples_are_the_same_file() -> None:
    """The two example files of docs/timetable.md give the same lessons."""
    csv_section = DOCS.read_text().split("### CSV\n", 1)[1]
    dutch, english = re.findall(r"```\n(.*?)```", csv_section, re.S)[:2]
    assert lessons(dutch) == lessons(english) and len(lessons(dutch)) == 2


def test_the_date_error_names_the_formats_the_page_lists() -> None:
    """The error for a wrong date names each date format of the table, in both languages."""
    problem = problem_of("datum;begin;eind;klas\ngisteren;08:30;09:20;3B\n")
    dutch = Translate("nl").message(problem.msgid, problem.params)
    for name, _ in DATE_FORMATS:
        assert name in problem.message and Translate("nl")(name) in dutch
