"""The reference corpus imports exactly as recurring-ical-events expands it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import icalendar
import pytest
import recurring_ical_events

from service.timetable import Limits, dates_window, import_ical, school_year
from service.timetable.model import Window
from tests.timetable.helpers import AMSTERDAM, CORPUS

CASES = [
    (
        "issue_222_range_berlin_forward.ics",
        dates_window(date(2026, 3, 1), date(2026, 4, 30), AMSTERDAM),
    ),
    ("issue_48_daylight_aware_repeats.ics", school_year(date(2020, 9, 1), AMSTERDAM)),
    ("issue_62_moved_event_2.ics", dates_window(date(2023, 8, 1), date(2023, 9, 30), AMSTERDAM)),
    ("three_events_one_edited.ics", dates_window(date(2019, 3, 1), date(2019, 3, 31), AMSTERDAM)),
]


def library_occurrences(data: bytes, window: Window) -> set[tuple[str, datetime, datetime]]:
    calendar = icalendar.Calendar.from_ical(data)
    found = set()
    for event in recurring_ical_events.of(calendar).between(window.start, window.end):
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        if isinstance(start, datetime):  # all-day events are not lessons
            found.add((str(event["UID"]), start.astimezone(UTC), end.astimezone(UTC)))
    return found


@pytest.mark.parametrize(("name", "window"), CASES, ids=[c[0] for c in CASES])
def test_corpus_matches_the_recurrence_library(name: str, window: Window) -> None:
    """Every timed occurrence the library computes is imported at the same UTC instants."""
    data = (CORPUS / name).read_bytes()
    result = import_ical(
        data, source=name, tz=AMSTERDAM, window=window, limits=Limits(max_duration=None)
    )
    imported = [(o.uid, o.start, o.end) for o in result.occurrences]
    assert len(imported) == len(set(imported))
    assert set(imported) == library_occurrences(data, window)
    assert imported, "the window must hold occurrences, or the comparison proves nothing"


@pytest.mark.parametrize(("name", "window"), CASES, ids=[c[0] for c in CASES])
def test_corpus_keys_are_unique(name: str, window: Window) -> None:
    """(UID, RECURRENCE-ID) tells every occurrence apart, also after RANGE=THISANDFUTURE."""
    data = (CORPUS / name).read_bytes()
    result = import_ical(
        data, source=name, tz=AMSTERDAM, window=window, limits=Limits(max_duration=None)
    )
    keys = [o.key for o in result.occurrences]
    assert len(keys) == len(set(keys))


def test_thisandfuture_keys_are_the_original_starts() -> None:
    """Occurrences moved by RANGE=THISANDFUTURE keep their original start as RECURRENCE-ID."""
    name, window = CASES[0]
    result = import_ical(
        (CORPUS / name).read_bytes(),
        source=name,
        tz=AMSTERDAM,
        window=window,
        limits=Limits(max_duration=None),
    )
    assert [o.recurrence_id for o in result.occurrences] == [
        "20260327T090000Z",
        "20260328T090000Z",
        "20260329T080000Z",
        "20260330T080000Z",
    ]
    assert [o.start for o in result.occurrences][1:] == [
        datetime(2026, 3, 30, 8, tzinfo=UTC),
        datetime(2026, 3, 31, 8, tzinfo=UTC),
        datetime(2026, 4, 1, 8, tzinfo=UTC),
    ]


def test_day_long_events_are_not_lessons_by_default() -> None:
    """With the default 12-hour limit, the corpus's day-long events are skipped and counted."""
    name, window = CASES[0]
    result = import_ical((CORPUS / name).read_bytes(), source=name, tz=AMSTERDAM, window=window)
    assert result.occurrences == ()
    assert result.skipped == {"too_long": 4}


def test_all_day_events_are_skipped_and_the_moved_lesson_kept() -> None:
    """issue_62: the all-day series is left out; the moved Tuesday lesson is on Monday."""
    name, window = CASES[2]
    result = import_ical((CORPUS / name).read_bytes(), source=name, tz=AMSTERDAM, window=window)
    assert result.skipped == {"all_day": 2}
    moved = [o for o in result.occurrences if o.recurrence_id == "20230815T040000Z"]
    assert [o.start for o in moved] == [datetime(2023, 8, 14, 4, tzinfo=UTC)]
