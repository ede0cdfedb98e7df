"""Calendars written relative to today, for tests that go through the real clock (the CLI)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from tests.timetable.helpers import AMSTERDAM

TODAY = datetime.now(AMSTERDAM).date()
MONDAY = TODAY + timedelta(days=7 - TODAY.weekday())  # next week's Monday


def stamp(day: date, at: str) -> str:
    return f"{day:%Y%m%d}T{at.replace(':', '')}00"


def weekly(uid: str, at: str = "08:30", summary: str = "wi - 3B - jdv", extra: str = "") -> str:
    """A lesson every Monday from next week on, for four weeks, in Amsterdam time."""
    end = (datetime.combine(MONDAY, time.fromisoformat(at)) + timedelta(minutes=50)).time()
    return f"""UID:{uid}
DTSTART;TZID=Europe/Amsterdam:{stamp(MONDAY, at)}
DTEND;TZID=Europe/Amsterdam:{stamp(MONDAY, end.strftime("%H:%M"))}
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:{summary}
LOCATION:217
{extra}"""
