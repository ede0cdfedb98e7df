"""Rijksoverheid school holidays: parsing the open-data JSON and asking about an instant."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from service.timetable import Holiday, InputTooLarge, MalformedInput, holiday_at, parse_holidays
from tests.timetable.helpers import AMSTERDAM, FIXTURES

HOLIDAYS = parse_holidays((FIXTURES / "schoolholidays.json").read_bytes())


def test_fixture_parses_with_clean_names_and_inclusive_last_days() -> None:
    """Names lose stray whitespace; 21:59Z and 22:59Z ends are the last Dutch day."""
    assert (
        Holiday(
            "Herfstvakantie", "2025-2026", "zuid", date(2025, 10, 11), date(2025, 10, 19), False
        )
        in HOLIDAYS
    )
    assert (
        Holiday(
            "Kerstvakantie",
            "2025-2026",
            "heel nederland",
            date(2025, 12, 20),
            date(2026, 1, 4),
            True,
        )
        in HOLIDAYS
    )
    assert {h.name for h in HOLIDAYS} == {"Herfstvakantie", "Kerstvakantie", "Zomervakantie"}
    assert len(HOLIDAYS) == 7


@pytest.mark.parametrize(
    ("local", "region", "expected"),
    [
        # region-specific autumn holiday
        (datetime(2025, 10, 13, 9, 0), "zuid", "Herfstvakantie"),
        (datetime(2025, 10, 13, 9, 0), "noord", None),
        (datetime(2025, 10, 20, 9, 0), "noord", "Herfstvakantie"),
        # the last day counts to midnight, the next morning does not
        (datetime(2025, 10, 19, 23, 59), "zuid", "Herfstvakantie"),
        (datetime(2025, 10, 20, 8, 30), "zuid", None),
        # nationwide Christmas
        (datetime(2025, 12, 22, 8, 30), "midden", "Kerstvakantie"),
        (datetime(2026, 1, 5, 8, 30), "midden", None),
        (datetime(2025, 12, 19, 23, 59), "noord", None),
        (datetime(2025, 12, 20, 0, 0), "noord", "Kerstvakantie"),
        # summer, staggered
        (datetime(2026, 7, 6, 8, 30), "noord", "Zomervakantie"),
        (datetime(2026, 7, 6, 8, 30), "midden", None),
    ],
)
def test_holiday_at(local: datetime, region: str, expected: str | None) -> None:
    """An instant is in a holiday when it falls on one of its days in the school's zone."""
    found = holiday_at(local.replace(tzinfo=AMSTERDAM).astimezone(UTC), region, HOLIDAYS, AMSTERDAM)
    assert (found.name if found else None) == expected


def test_advised_dates_can_be_ignored() -> None:
    """A school that moved its autumn holiday can ignore the advised dates."""
    instant = datetime(2025, 10, 13, 9, 0, tzinfo=AMSTERDAM)
    assert holiday_at(instant, "zuid", HOLIDAYS, AMSTERDAM, include_advised=False) is None


@pytest.mark.parametrize(
    ("region", "instant"),
    [("oost", datetime(2025, 10, 13, tzinfo=UTC)), ("zuid", datetime(2025, 10, 13))],
)
def test_holiday_at_refuses_bad_arguments(region: str, instant: datetime) -> None:
    """An unknown region or a naive instant is a programming error, said plainly."""
    with pytest.raises(ValueError):
        holiday_at(instant, region, HOLIDAYS, AMSTERDAM)


def test_single_year_document_and_plain_dates() -> None:
    """The per-school-year endpoint serves one document; plain dates are read as days."""
    doc = {
        "content": [
            {
                "schoolyear": "2026-2027",
                "vacations": [
                    {
                        "type": "Meivakantie",
                        "compulsorydates": "false",
                        "regions": [
                            {
                                "region": "heel Nederland",
                                "startdate": "2027-04-24",
                                "enddate": "2027-05-02",
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert parse_holidays(json.dumps(doc).encode()) == (
        Holiday(
            "Meivakantie", "2026-2027", "heel nederland", date(2027, 4, 24), date(2027, 5, 2), False
        ),
    )


def region(**change: object) -> bytes:
    entry = {
        "region": "noord",
        "startdate": "2025-10-18T00:00:00.000Z",
        "enddate": "2025-10-26T22:59:00.000Z",
        **change,
    }
    return json.dumps(
        [
            {
                "content": [
                    {
                        "schoolyear": "2025-2026",
                        "vacations": [
                            {
                                "type": "Herfstvakantie",
                                "compulsorydates": "false",
                                "regions": [entry],
                            }
                        ],
                    }
                ]
            }
        ]
    ).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "schoolholidays.json:1: not JSON"),
        (b"[1]", "schoolholidays.json: [0] must be an object"),
        (b'[{"content": {}}]', "[0].content must be a list"),
        (
            region(region="oost"),
            "[0].content[0].vacations[0].regions[0].region 'oost' is not noord, midden, zuid",
        ),
        (region(startdate="morgen"), "regions[0].startdate 'morgen' is not a date"),
        (region(enddate=None), "regions[0].enddate must be a date string"),
        (
            region(enddate="2025-10-01T00:00:00.000Z"),
            "regions[0]: the holiday ends before it starts",
        ),
        (
            json.dumps([{"content": [{"vacations": [{"type": " ", "regions": []}]}]}]).encode(),
            "vacations[0].type is empty",
        ),
    ],
)
def test_malformed_holiday_files(data: bytes, message: str) -> None:
    """Every malformed part is named by its JSON path."""
    with pytest.raises(MalformedInput) as caught:
        parse_holidays(data)
    assert message in str(caught.value)


def test_oversized_holiday_file() -> None:
    """A holiday file over its size limit is refused before parsing."""
    with pytest.raises(InputTooLarge):
        parse_holidays(b" " * (3 * 1024 * 1024))
