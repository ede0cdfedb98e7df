"""Property: weekly timetables keep their local wall-clock time across both DST changes."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.timetable import import_ical, school_year
from tests.timetable.helpers import AMSTERDAM, VTIMEZONE_AMSTERDAM, calendar

YEAR = school_year(date(2025, 9, 1), AMSTERDAM)  # holds 2025-10-26 and 2026-03-29
FIRST_MONDAY = date(2025, 9, 1)

lesson = st.tuples(
    st.integers(0, 4),  # weekday
    st.integers(7 * 12, 17 * 12),  # start in 5-minute steps from midnight
    st.sampled_from([30, 45, 50, 60, 70, 100]),  # minutes
)
style = st.sampled_from(["tzid", "tzid-with-vtimezone", "floating"])


def event(index: int, weekday: int, start: int, minutes: int, how: str) -> str:
    day = FIRST_MONDAY + timedelta(days=weekday)
    begin = f"{day:%Y%m%d}T{start // 12:02d}{start % 12 * 5:02d}00"
    zone = "" if how == "floating" else ";TZID=Europe/Amsterdam"
    return (
        f"UID:les-{index}\nDTSTART{zone}:{begin}\nDURATION:PT{minutes}M\n"
        "RRULE:FREQ=WEEKLY;UNTIL=20260720T000000Z"
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(lesson, min_size=1, max_size=6), style)
def test_every_occurrence_has_its_sources_wall_clock_time(lessons, how) -> None:  # type: ignore[no-untyped-def]
    """Each stored occurrence starts on its weekday at its local time and lasts as long."""
    header = VTIMEZONE_AMSTERDAM if how == "tzid-with-vtimezone" else ""
    data = calendar(*(event(i, *spec, how) for i, spec in enumerate(lessons)), header=header)
    result = import_ical(data, source="prop", tz=AMSTERDAM, window=YEAR)
    by_uid: dict[str, list] = {}
    for o in result.occurrences:
        by_uid.setdefault(o.uid, []).append(o)
    assert set(by_uid) == {f"les-{i}" for i in range(len(lessons))}
    for i, (weekday, start, minutes) in enumerate(lessons):
        found = by_uid[f"les-{i}"]
        assert len(found) == 46  # 1 Sept 2025 to 17 July 2026: none lost at either change
        for o in found:
            local = o.start.astimezone(AMSTERDAM)
            assert (local.weekday(), local.hour * 12 + local.minute // 5) == (weekday, start)
            assert local.minute % 5 == 0
            assert o.end - o.start == timedelta(minutes=minutes)
        offsets = {o.start.astimezone(AMSTERDAM).utcoffset() for o in found}
        assert offsets == {timedelta(hours=1), timedelta(hours=2)}
