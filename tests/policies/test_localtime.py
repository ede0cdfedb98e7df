"""The one formatter of times for people (``policies.localtime``): UTC in, the school's wall
clock out, right on both sides of a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from policies.localtime import abbreviation, clock, day, iso, moment, span, zone

AMS = zone("Europe/Amsterdam")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "tz", "expected_moment", "expected_clock", "expected_abbreviation"),
    [
        # Winter and summer in Amsterdam: the "Laatst gezien 04:24" at 05:24.
        ("2026-12-07T04:24:00", "Europe/Amsterdam", "2026-12-07 05:24", "05:24", "CET"),
        ("2026-06-15T04:24:00", "Europe/Amsterdam", "2026-06-15 06:24", "06:24", "CEST"),
        # A UTC evening is the next local day.
        ("2026-12-06T23:30:00", "Europe/Amsterdam", "2026-12-07 00:30", "00:30", "CET"),
        # March 29 2026, 01:00 UTC: 02:00 CET becomes 03:00 CEST (02:xx never happens).
        ("2026-03-29T00:59:00", "Europe/Amsterdam", "2026-03-29 01:59", "01:59", "CET"),
        ("2026-03-29T01:00:00", "Europe/Amsterdam", "2026-03-29 03:00", "03:00", "CEST"),
        # October 25 2026, 01:00 UTC: 03:00 CEST becomes 02:00 CET; 02:xx happens twice and
        # each time is named.
        ("2026-10-25T00:30:00", "Europe/Amsterdam", "2026-10-25 02:30 CEST", "02:30 CEST", "CEST"),
        ("2026-10-25T01:30:00", "Europe/Amsterdam", "2026-10-25 02:30 CET", "02:30 CET", "CET"),
        ("2026-10-25T02:00:00", "Europe/Amsterdam", "2026-10-25 03:00", "03:00", "CET"),
        ("2026-10-24T23:59:00", "Europe/Amsterdam", "2026-10-25 01:59", "01:59", "CEST"),
        # Other zones: west of UTC the local day can be the day before.
        ("2026-12-07T04:24:00", "America/New_York", "2026-12-06 23:24", "23:24", "EST"),
        ("2026-12-07T04:24:00", "Asia/Kolkata", "2026-12-07 09:54", "09:54", "IST"),
        ("2026-12-07T04:24:00", "UTC", "2026-12-07 04:24", "04:24", "UTC"),
        # No zone or an unknown one is shown as UTC, and says so.
        ("2026-12-07T04:24:00", None, "2026-12-07 04:24", "04:24", "UTC"),
        ("2026-12-07T04:24:00", "Mars/Olympus", "2026-12-07 04:24", "04:24", "UTC"),
    ],
)
def test_a_utc_instant_reads_as_the_zones_wall_clock(
    at: str,
    tz: str | None,
    expected_moment: str,
    expected_clock: str,
    expected_abbreviation: str,
) -> None:
    """Each row: one UTC instant as the school's date and time, its clock, its zone's name."""
    instant, where = utc(at), zone(tz)
    assert (moment(instant, where), clock(instant, where), abbreviation(instant, where)) == (
        expected_moment,
        expected_clock,
        expected_abbreviation,
    )


@pytest.mark.parametrize(
    ("at", "expected_day"),
    [
        ("2026-12-06T22:59:59", "2026-12-06"),
        ("2026-12-06T23:00:00", "2026-12-07"),  # midnight CET
        ("2026-06-14T22:00:00", "2026-06-15"),  # midnight CEST
        ("2026-06-14T21:59:59", "2026-06-14"),
    ],
)
def test_the_day_is_the_local_date(at: str, expected_day: str) -> None:
    """A day shown to a person is the school's date, not UTC's."""
    assert day(utc(at), AMS) == expected_day


def test_named_and_seconds_forms() -> None:
    """``named`` adds the abbreviation where no header names the zone; ``seconds`` for logs."""
    winter, summer = utc("2026-12-07T04:24:07"), utc("2026-07-07T04:24:07")
    assert moment(winter, AMS, seconds=True) == "2026-12-07 05:24:07"
    assert moment(winter, AMS, named=True) == "2026-12-07 05:24 CET"
    assert moment(summer, AMS, named=True) == "2026-07-07 06:24 CEST"
    assert clock(summer, AMS, named=True) == "06:24 CEST"


@pytest.mark.parametrize(
    ("at", "expected_iso"),
    [
        ("2026-12-07T04:24:07", "2026-12-07T05:24:07+01:00"),
        ("2026-07-07T04:24:07", "2026-07-07T06:24:07+02:00"),
        ("2026-10-25T00:30:00", "2026-10-25T02:30:00+02:00"),  # the repeated hour, first time
        ("2026-10-25T01:30:00", "2026-10-25T02:30:00+01:00"),  # and second time
    ],
)
def test_files_carry_local_time_with_its_offset(at: str, expected_iso: str) -> None:
    """CSV columns and the device export: local, exact by the offset, and read back as the
    same instant."""
    text = iso(utc(at), AMS)
    assert text == expected_iso
    assert datetime.fromisoformat(text) == utc(at)


@pytest.mark.parametrize(
    ("start", "end", "named", "expected_span"),
    [
        ("2026-12-07T07:30:00", "2026-12-07T08:20:00", False, "2026-12-07 08:30–09:20"),
        ("2026-12-07T07:30:00", "2026-12-07T08:20:00", True, "2026-12-07 08:30–09:20 CET"),
        ("2026-06-08T06:30:00", "2026-06-08T07:20:00", True, "2026-06-08 08:30–09:20 CEST"),
        # Across local midnight the end says its date.
        ("2026-12-07T22:30:00", "2026-12-07T23:30:00", False, "2026-12-07 23:30–2026-12-08 00:30"),
        # Across the October change: 01:30 CEST to 02:30 CET is two hours.
        ("2026-10-24T23:30:00", "2026-10-25T01:30:00", False, "2026-10-25 01:30–02:30 CET"),
    ],
)
def test_a_span_reads_as_one_local_stretch(
    start: str, end: str, named: bool, expected_span: str
) -> None:
    """A lesson or contact window: start date and time, end time, the zone where asked."""
    assert span(utc(start), utc(end), AMS, named=named) == expected_span


def test_an_instant_with_another_offset_is_the_same_instant() -> None:
    """An aware time in any offset is converted, not relabelled."""
    at = datetime(2026, 12, 7, 6, 24, tzinfo=timezone(timedelta(hours=2)))
    assert moment(at, AMS) == "2026-12-07 05:24"


def test_a_naive_time_is_refused() -> None:
    """A time without a zone has no instant; guessing one would show a wrong time."""
    with pytest.raises(ValueError, match="naive"):
        moment(datetime(2026, 12, 7, 4, 24), AMS)
