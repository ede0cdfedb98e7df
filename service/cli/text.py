"""Stored text printed by the command line: escaped, so text that came from a device, a
timetable feed or a holiday file cannot move IT's cursor, forge rows or hide what follows."""

from __future__ import annotations

from policies import localtime
from policies.wire import parse_time

JSON_HELP = "print JSON instead of tab-separated lines"


def shown(text: str | None) -> str:
    """One table cell: control, format and other unprintable characters escaped (``\\x1b``,
    ``\\u202e``, ``\\t``, ``\\n``); ``-`` for nothing."""
    if not text:
        return "-"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def tsv(*cells: str | None) -> str:
    """A tab-separated line of escaped cells."""
    return "\t".join(shown(c) for c in cells)


def when(value: str | None, zone: str | None) -> str | None:
    """A UTC time of the JSON (``2026-12-07T04:24:00Z``) as a person reads it: the school's
    local time with its zone's abbreviation (``2026-12-07 05:24 CET``); ``--json`` keeps UTC."""
    if value is None:
        return None
    return localtime.moment(parse_time(value, "time"), localtime.zone(zone), named=True)


def between(start: str, end: str, zone: str | None) -> str:
    """A lesson's JSON start and end as one local stretch: ``2026-11-24 08:30–09:20 CET``."""
    tz = localtime.zone(zone)
    return localtime.span(parse_time(start, "start"), parse_time(end, "end"), tz, named=True)
