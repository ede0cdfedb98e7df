"""Checks on one VEVENT before anything is expanded: what is wrong with it, in words.

icalendar parses leniently: a broken value surfaces only when it is read, an unknown TZID
silently becomes a floating time, and an event without an end gets zero length. Each of those
would import a wrong lesson without a word, so every one is a problem here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from service.timetable.bounds import expansion_bound
from service.timetable.model import MAX_UID

if TYPE_CHECKING:  # only ical.py reads calendars, and imports icalendar when it does
    from icalendar import Component

_TIMED = ("DTSTART", "DTEND", "RECURRENCE-ID")


def _read(event: Component, name: str) -> Any:
    value = event.get(name)
    if isinstance(value, list):
        raise ValueError(f"{name} appears more than once")
    return None if value is None else value.dt


def _date_count(event: Component, name: str) -> int:
    """How many dates an EXDATE or RDATE lists, reading each so a broken one shows here."""
    value = event.get(name)
    props = value if isinstance(value, list) else [] if value is None else [value]
    return len([item.dt for prop in props for item in prop.dts])


def _unknown_zone(event: Component) -> str | None:
    for name in _TIMED:
        prop = event.get(name)
        tzid = prop.params.get("TZID") if prop is not None else None
        if tzid and isinstance(prop.dt, datetime) and prop.dt.tzinfo is None:
            return f"{name} has the unknown time zone {str(tzid)[:60]!r} (no VTIMEZONE for it)"
    return None


def event_problems(
    event: Component, since: datetime, until: datetime, max_steps: int
) -> tuple[list[str], int, int]:
    """The problems of one event, how many repetitions its rules generate up to ``until``, and
    at most how many of them overlap [since, until)."""
    problems = [f"a value could not be read: {str(error)[:200]}" for _, error in event.errors]
    uid = str(event.get("UID", "")).strip()
    if not uid:
        problems.append("the event has no UID, so a re-import could not recognise it")
    elif len(uid) > MAX_UID:
        problems.append(f"the UID is longer than {MAX_UID} characters")
    if event.get("DTSTART") is None:
        return [*problems, "the event has no DTSTART"], 0, 0
    try:
        start = _read(event, "DTSTART")
        end = _read(event, "DTEND")
        duration = _read(event, "DURATION")
        rules = event.get("RRULE")
        rules = rules if isinstance(rules, list) else [rules] if rules is not None else []
        rdate_count = _date_count(event, "RDATE")
        _date_count(event, "EXDATE")
        _read(event, "RECURRENCE-ID")
        for rule in rules:
            rule.get("FREQ")
    except (ValueError, TypeError, AttributeError) as exc:
        if event.errors:  # icalendar already said which value, in its own words
            return problems, 0, 0
        return [*problems, f"a value could not be read: {str(exc)[:200]}"], 0, 0
    zone = _unknown_zone(event)
    if zone:
        return [*problems, zone], 0, 0
    if isinstance(start, datetime):
        if end is None and duration is None:
            problems.append("the event has no DTEND or DURATION, so it has no end")
        elif end is not None and duration is not None:
            problems.append("the event has both DTEND and DURATION")
        elif end is not None and not isinstance(end, datetime):
            problems.append("DTSTART is a date and time but DTEND is only a date")
        elif end is not None:
            try:
                if end <= start:
                    problems.append(f"DTEND {end} is not after DTSTART {start}")
            except TypeError:
                problems.append("DTSTART and DTEND mix a floating time with a time zone")
        elif not isinstance(duration, timedelta) or duration <= timedelta(0):
            problems.append(f"DURATION {duration} is not a positive length of time")
    elif not isinstance(start, date):
        problems.append("DTSTART is not a date or a date and time")
    length = timedelta(0)
    if isinstance(duration, timedelta):
        length = duration
    elif isinstance(start, datetime) and isinstance(end, datetime) and not problems:
        length = end - start
    # An occurrence overlaps the window when it starts less than its length before it.
    first = max(_as_aware(start, since), since - length)
    steps = in_window = rdate_count
    for rule in rules:
        steps += expansion_bound(rule, start, until)
        in_window += expansion_bound(rule, first, until)
    if not rules:
        in_window += 1
    if steps > max_steps:
        freq = ",".join(str(f) for r in rules for f in r.get("FREQ", []))
        problems.append(
            f"the recurrence (FREQ={freq}) repeats about {steps:,} times from {start} up to "
            f"{until.date()}, over the limit of {max_steps:,}: give it an UNTIL or COUNT"
        )
    return problems, steps, in_window


def _as_aware(value: date | datetime, like: datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=like.tzinfo)
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None else value
