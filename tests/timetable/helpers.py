"""Shared helpers for the timetable tests: the school's zone and small calendar builders."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.timetable import ImportResult, import_csv, school_year

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path("/work/shared/reference/ical-corpus")

VTIMEZONE_AMSTERDAM = """BEGIN:VTIMEZONE
TZID:Europe/Amsterdam
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


def calendar(*events: str, header: str = "") -> bytes:
    """A VCALENDAR around the given VEVENT bodies, with CRLF line ends as RFC 5545 wants."""
    parts = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//lessonwatch tests//EN"]
    if header:
        parts.append(header)
    for body in events:
        parts += ["BEGIN:VEVENT", body.strip(), "END:VEVENT"]
    parts.append("END:VCALENDAR")
    return ("\r\n".join("\r\n".join(parts).splitlines()) + "\r\n").encode()


def import_text(text: str, **kwargs: Any) -> ImportResult:
    """``import_csv`` of ``text`` as the file ``rooster.csv`` of a school in Amsterdam, for
    lessons in the school year 2025-2026; ``kwargs`` override any of those options."""
    options: dict[str, Any] = {
        "source": "rooster.csv",
        "tz": AMSTERDAM,
        "window": school_year(date(2025, 9, 1), AMSTERDAM),
    }
    options.update(kwargs)
    return import_csv(text.encode(), **options)
