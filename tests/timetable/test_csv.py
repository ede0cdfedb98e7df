"""CSV import: the documented layout, and errors that name their line."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.timetable import (
    ImportRefused,
    InputTooLarge,
    LimitExceeded,
    Limits,
    MalformedInput,
    import_csv,
    school_year,
)
from tests.timetable.helpers import AMSTERDAM, FIXTURES, import_text

YEAR = school_year(date(2025, 9, 1), AMSTERDAM)
HEADER = "date,start,end,group,subject,teacher,room"


def test_the_fixture_imports() -> None:
    """The semicolon fixture gives four lessons with Dutch dates, dotted times and flags."""
    result = import_csv(
        (FIXTURES / "rooster.csv").read_bytes(), source="rooster.csv", tz=AMSTERDAM, window=YEAR
    )
    assert [(o.subject, o.start, o.remote, o.cancelled) for o in result.occurrences] == [
        ("wi", datetime(2025, 9, 15, 6, 30, tzinfo=UTC), False, False),
        ("ne", datetime(2025, 9, 15, 7, 20, tzinfo=UTC), False, False),
        ("en", datetime(2025, 9, 15, 8, 30, tzinfo=UTC), True, False),
        ("gs", datetime(2025, 9, 16, 6, 30, tzinfo=UTC), False, True),
    ]
    assert result.occurrences[0].uid == "2025-09-15T08:30/3B"


def test_winter_time_rows_get_the_winter_offset() -> None:
    """Local times are read in the school's zone on their own date."""
    result = import_text(f"{HEADER}\n2025-12-15,08:30,09:20,3B,wi,jdv,217\n")
    assert result.occurrences[0].start == datetime(2025, 12, 15, 7, 30, tzinfo=UTC)


def test_uid_column_gives_a_stable_key() -> None:
    """With a uid column, the row is known by it, so a moved lesson stays the same lesson."""
    result = import_text("uid,date,start,end,group\nles-7,2025-09-15,08:30,09:20,3B\n")
    assert result.occurrences[0].key == ("rooster.csv", "les-7", "")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "2025-09-15,08:30,08:20,3B,wi,jdv,217",
            "rooster.csv:2: 'end' 08:20 is not after 'start' 08:30",
        ),
        (
            "2025-13-15,08:30,09:20,3B,wi,jdv,217",
            "rooster.csv:2: 'date' '2025-13-15' does not exist",
        ),
        ("gisteren,08:30,09:20,3B,wi,jdv,217", "rooster.csv:2: 'date' 'gisteren' is not a date"),
        ("2025-09-15,8u30,09:20,3B,wi,jdv,217", "rooster.csv:2: 'start' '8u30' is not a time"),
        ("2025-09-15,08:30,24:00,3B,wi,jdv,217", "rooster.csv:2: 'end' '24:00' is not a time"),
        ("2025-09-15,08:30,09:20,,wi,jdv,217", "rooster.csv:2: 'group' is empty"),
        ("2025-09-15,08:30,09:20,3B,wi", "rooster.csv:2: 5 values where the header has 7 columns"),
        (
            "2026-03-29,02:30,03:20,3B,wi,jdv,217",
            "rooster.csv:2: 'start' 02:30 does not exist on 2026-03-29 (daylight saving)",
        ),
        ("2025-09-15,08:30,09:20,3B," + "w" * 101 + ",jdv,217", "subject 'wwww"),
    ],
)
def test_bad_rows_name_their_line(row: str, message: str) -> None:
    """Each wrong row is refused with the file and line, and nothing is imported."""
    with pytest.raises(ImportRefused) as caught:
        import_text(f"{HEADER}\n{row}\n")
    assert message in str(caught.value)


def test_flags_must_be_yes_or_no() -> None:
    """An unreadable remote value is an error, not a silent 'no'."""
    with pytest.raises(ImportRefused, match=r"rooster\.csv:2: 'remote' 'misschien'"):
        import_text("date,start,end,group,remote\n2025-09-15,08:30,09:20,3B,misschien\n")


def test_quoted_fields_keep_line_numbers_right() -> None:
    """A quoted value spanning two lines does not shift later line numbers."""
    text = (
        f'{HEADER}\n2025-09-15,08:30,09:20,3B,"wi\nB",jdv,217\n'
        "2025-09-15,09:20,09:10,3B,ne,bal,105\n"
    )
    with pytest.raises(ImportRefused, match=r"rooster\.csv:4: 'end' 09:10"):
        import_text(text)


def test_duplicate_rows_name_both_lines() -> None:
    """Two rows with the same date, start and group are refused: the second names the first."""
    row = "2025-09-15,08:30,09:20,3B,wi,jdv,217"
    with pytest.raises(ImportRefused, match=r"rooster\.csv:3: this row repeats line 2"):
        import_text(f"{HEADER}\n{row}\n{row}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "rooster.csv:1: the file is empty: no header row"),
        ("date,start,end,lesson\n", "rooster.csv:1: unknown column 'lesson'"),
        ("date,start,end,subject\n", "rooster.csv:1: the header lacks 'group'"),
        ("date,start,end,group,group\n", "rooster.csv:1: column 'group' appears twice"),
        (f'{HEADER}\n2025-09-15,"08:30,09:20\n', "rooster.csv:2: not readable as CSV"),
    ],
)
def test_malformed_files(text: str, message: str) -> None:
    """A file without a usable header, or broken CSV quoting, is refused with its line."""
    with pytest.raises(MalformedInput) as caught:
        import_text(text)
    assert str(caught.value).startswith(message)


def test_partial_import_keeps_good_rows() -> None:
    """Asked for explicitly, bad rows are left out and listed."""
    result = import_text(f"{HEADER}\n2025-09-15,08:30,09:20,3B,wi,jdv,217\nkapot\n", partial=True)
    assert len(result.occurrences) == 1
    assert [p.line for p in result.problems] == [3]


def test_rows_outside_the_window_are_counted() -> None:
    """Rows of another school year are skipped and counted, not imported."""
    result = import_text(f"{HEADER}\n2024-09-16,08:30,09:20,3B,wi,jdv,217\n")
    assert result.occurrences == ()
    assert result.skipped == {"outside_window": 1}


def test_size_and_row_limits() -> None:
    """An oversized file and too many rows are refused."""
    with pytest.raises(InputTooLarge):
        import_text(HEADER + "\n" + "x" * 200, limits=Limits(max_bytes=100))
    rows = "\n".join(f"2025-09-{d:02d},08:30,09:20,3B,wi,jdv,217" for d in range(1, 11))
    with pytest.raises(LimitExceeded, match="more than 5 rows"):
        import_text(f"{HEADER}\n{rows}\n", limits=Limits(max_occurrences=5))
