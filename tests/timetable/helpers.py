"""Shared helpers for the timetable tests: the school's zone and small calendar builders."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

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
