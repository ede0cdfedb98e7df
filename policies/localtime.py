"""Times as a person reads them: on the school's wall clock, with the zone named.

UTC stays on the wire and in JSON (``policies.wire.format_time``); this module is the one place
an instant becomes text for a person, on both sides of the wire: the collector's pages, CSV files
and command line, and the agent's ``status`` and ``explain``. Everything here is pure: an aware
instant and a zone in, text out.

In the hour that repeats when summer time ends (02:00-03:00 twice in Amsterdam on the last
Sunday of October) a wall-clock time alone names two instants; there the text carries the zone's
abbreviation ("02:30 CEST", then "02:30 CET"), so an audit line in that hour stays exact.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["abbreviation", "clock", "day", "iso", "local", "moment", "span", "zone"]

UTC_NAME = "UTC"


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``; UTC for none or an unknown name (the text then says "UTC", so a
    reader is never told a UTC time is local)."""
    try:
        return ZoneInfo(name or UTC_NAME)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(UTC_NAME)


def local(at: datetime, tz: tzinfo) -> datetime:
    """The instant ``at`` (aware) on ``tz``'s wall clock."""
    if at.tzinfo is None:
        raise ValueError("a naive time has no instant: give it a zone (UTC from the wire)")
    return at.astimezone(tz)


def abbreviation(at: datetime, tz: tzinfo) -> str:
    """The zone's short name at that instant: "CET" in winter, "CEST" in summer."""
    return local(at, tz).tzname() or UTC_NAME


def _repeated(wall: datetime) -> bool:
    # The same wall-clock time with the other fold has another offset only in the repeated hour.
    return wall.replace(fold=1 - wall.fold).utcoffset() != wall.utcoffset()


def _marked(text: str, wall: datetime, named: bool) -> str:
    return f"{text} {wall.tzname()}" if named or _repeated(wall) else text


def moment(at: datetime, tz: tzinfo, *, seconds: bool = False, named: bool = False) -> str:
    """ "2026-12-07 05:24" (``seconds``: "05:24:00"), local; ``named`` adds the abbreviation
    ("05:24 CET") where no header names the zone; the repeated hour always has it."""
    wall = local(at, tz)
    text = f"{wall.year:04d}-" + wall.strftime("%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M")
    return _marked(text, wall, named)


def clock(at: datetime, tz: tzinfo, *, named: bool = False) -> str:
    """ "05:24" (``named``: "05:24 CET"), local; the repeated hour always has the abbreviation."""
    wall = local(at, tz)
    return _marked(f"{wall:%H:%M}", wall, named)


def span(start: datetime, end: datetime, tz: tzinfo, *, named: bool = False) -> str:
    """ "2026-12-07 08:30–09:20" (``named``: "... 09:20 CET"); the end's date only when it is
    on another local day."""
    same_day = day(start, tz) == day(end, tz)
    until = clock(end, tz, named=named) if same_day else moment(end, tz, named=named)
    return f"{moment(start, tz)}–{until}"


def day(at: datetime, tz: tzinfo) -> str:
    """ "2026-12-07": the local date of the instant."""
    wall = local(at, tz)
    return f"{wall.year:04d}-{wall:%m-%d}"


def iso(at: datetime, tz: tzinfo) -> str:
    """ "2026-12-07T05:24:00+01:00": local, with the offset that makes it exact, for files a
    person opens and a program may still read (CSV columns with stable names, the device
    export); never on the wire, which keeps UTC."""
    return local(at, tz).replace(microsecond=0).isoformat()
