"""Weekly patterns for schools without an export: blocks per weekday become lessons, holidays
are left out, and saving again updates the same lessons instead of adding a second set."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.models import Lesson, TimetableSource
from service.schools import registry as schools
from service.timetable import Holiday, LimitExceeded, MalformedInput
from service.timetable.pattern import Pattern, generate, parse_blocks
from service.timetable_store import patterns
from tests.timetable.helpers import AMSTERDAM

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
AUTUMN = Holiday(
    "Herfstvakantie", "2026-2027", "midden", date(2026, 10, 17), date(2026, 10, 25), True
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "08:30-10:00 rekenen; 10:15-11:45 taal",
            [("08:30", "10:00", "rekenen"), ("10:15", "11:45", "taal")],
        ),
        ("8:30 - 12:00\n13:00-14:30 gym", [("08:30", "12:00", None), ("13:00", "14:30", "gym")]),
        ("  ;  ", []),
    ],
)
def test_blocks_are_read(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    """Blocks separated by semicolons or lines, with an optional subject."""
    got = [(f"{b.start:%H:%M}", f"{b.end:%H:%M}", b.subject) for b in parse_blocks(text, weekday=0)]
    assert got == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("half negen tot tien", "block 1"),
        ("25:00-26:00", "not a time of day"),
        ("10:00-09:00", "ends before it starts"),
        ("08:30-10:00; 09:30-11:00", "starts before block 1 ends"),
        ("08:30-10:00 \x1b[2J", "not printable"),
        ("08:00-08:30;" * 13, "more than 12 blocks"),
        ("x" * 1001, "longer than 1000"),
    ],
)
def test_bad_blocks_say_which_day_and_block(text: str, message: str) -> None:
    """A wrong block is refused with the weekday and the block's number or the reason."""
    with pytest.raises(MalformedInput, match=message) as caught:
        parse_blocks(text, weekday=2)
    assert "wednesday" in str(caught.value)


def pattern(first: date, last: date, **days: str) -> Pattern:
    names = ("monday", "tuesday", "wednesday", "thursday", "friday")
    blocks = {names.index(d): parse_blocks(t, weekday=names.index(d)) for d, t in days.items()}
    return Pattern("groep 5", first, last, blocks, teacher="jdv", room="lokaal 2")


def test_holidays_are_skipped_and_wall_clock_kept_across_dst() -> None:
    """Lessons keep 08:30 local on both sides of the October change; holiday days are left out."""
    result = generate(
        pattern(date(2026, 10, 12), date(2026, 10, 30), monday="08:30-10:00 rekenen"),
        source="pattern groep 5",
        tz=AMSTERDAM,
        holidays=[AUTUMN],
        region="midden",
    )
    days = [o.start.astimezone(AMSTERDAM) for o in result.occurrences]
    assert [d.date() for d in days] == [date(2026, 10, 12), date(2026, 10, 26)]
    assert {d.time() for d in days} == {time(8, 30)}
    assert [o.start.hour for o in result.occurrences] == [6, 7]  # CEST, then CET, in UTC
    assert result.skipped == {"holiday": 1}
    assert [o.uid for o in result.occurrences] == ["monday-1", "monday-1"]


@given(
    first=st.dates(date(2026, 8, 1), date(2027, 6, 30)),
    span=st.integers(0, 60),
    hour=st.integers(7, 15),
)
def test_every_generated_lesson_is_on_its_weekday_at_its_time(
    first: date, span: int, hour: int
) -> None:
    """Each lesson falls on a day with blocks, inside the range, at the block's local time."""
    text = f"{hour:02d}:00-{hour:02d}:45 taal"
    result = generate(
        pattern(first, first + timedelta(days=span), tuesday=text, friday=text),
        source="p",
        tz=AMSTERDAM,
    )
    for o in result.occurrences:
        local = o.start.astimezone(AMSTERDAM)
        assert local.weekday() in (1, 4) and local.time() == time(hour, 0)
        assert first <= local.date() <= first + timedelta(days=span)
        assert o.recurrence_id == local.date().isoformat()


def test_ranges_are_bounded() -> None:
    """A last day before the first, or more than the window limit, is refused."""
    with pytest.raises(MalformedInput, match="before the first"):
        generate(pattern(date(2026, 10, 2), date(2026, 10, 1)), source="p", tz=AMSTERDAM)
    with pytest.raises(LimitExceeded, match="at most 400 days"):
        generate(pattern(date(2026, 1, 1), date(2030, 1, 1)), source="p", tz=AMSTERDAM)


def save(
    sessions: sessionmaker[Session], first: date, last: date, days: dict[int, str]
) -> dict[str, object]:
    with sessions.begin() as session:
        school = schools.school(session)
        parsed = patterns.parse(
            group="groep 5", first=first, last=last, days=days, teacher=None, room=None
        )
        return patterns.save(
            session, school=school, pattern=parsed, days=days, now=NOW, actor="user:beheer"
        )


def stored(sessions: sessionmaker[Session]) -> dict[str, tuple[str, datetime, str | None]]:
    with sessions.begin() as session:
        return {
            f"{r.uid}/{r.recurrence_id}": (r.id, r.start, r.subject)
            for r in session.scalars(select(Lesson))
        }


def test_saving_again_updates_by_stable_keys(sessions: sessionmaker[Session]) -> None:
    """A changed block time updates the same lessons; a shorter range removes the rest."""
    first, last = date(2026, 10, 5), date(2026, 10, 16)
    preview = save(sessions, first, last, {0: "08:30-10:00 rekenen", 2: "09:00-10:00 taal"})
    assert preview["plan"]["inserts"] == 4  # type: ignore[index]
    before = stored(sessions)
    save(sessions, first, last, {0: "08:45-10:00 rekenen", 2: "09:00-10:00 taal"})
    after = stored(sessions)
    assert after.keys() == before.keys()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert after["monday-1/2026-10-05"][1].astimezone(AMSTERDAM).time() == time(8, 45)
    save(sessions, first, date(2026, 10, 9), {0: "08:45-10:00 rekenen", 2: "09:00-10:00 taal"})
    assert sorted(stored(sessions)) == ["monday-1/2026-10-05", "wednesday-1/2026-10-07"]
    with sessions.begin() as session:
        source = session.scalar(select(TimetableSource))
        assert source is not None and source.kind == "pattern"
        assert source.options["days"] == {"0": "08:45-10:00 rekenen", "2": "09:00-10:00 taal"}
        assert session.scalar(select(func.count()).select_from(TimetableSource)) == 1
