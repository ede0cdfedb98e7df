"""iCalendar import: a file or feed body to lesson occurrences in UTC over a window.

Zermelo, WebUntis and SOMtoday exports are read with icalendar and expanded with
recurring-ical-events, so TZID, VTIMEZONE, UTC and floating times, RRULE, EXDATE, RDATE,
RECURRENCE-ID (also RANGE=THISANDFUTURE) and DURATION mean what RFC 5545 says. Floating times
are the school's time zone. All-day events are not lessons. ``STATUS:CANCELLED`` gives
cancelled occurrences, which are kept so a sync can cancel the lesson.

Nothing is imported when anything is wrong, unless ``partial=True``: then the events with
problems (every event of their UID) are left out and listed in the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from service.timetable.errors import InputTooLarge, LimitExceeded, MalformedInput
from service.timetable.icalcheck import event_problems
from service.timetable.icsscan import EventSpan, scan
from service.timetable.limits import Limits, check_window
from service.timetable.mapping import SourceMapping, apply_mapping, parse_mapping
from service.timetable.model import ImportResult, Occurrence, Window, name_problem
from service.timetable.problems import Problems
from service.timetable.reading import decode_text
from service.timetable.tally import Tally

# icalendar and recurring-ical-events are imported where a calendar is read: with click and
# dateutil they are about 0.1 CPU-s of every ``lessonwatch-service`` start, and only the
# timetable commands and the sync read a calendar.
if TYPE_CHECKING:
    from icalendar import Calendar, Component

Series = list[tuple["Component", EventSpan]]


def parse_calendar(data: bytes, *, name: str, limits: Limits) -> tuple[Calendar, list[EventSpan]]:
    """The calendar and the line of each of its VEVENTs; MalformedInput when unreadable."""
    if len(data) > limits.max_bytes:
        raise InputTooLarge(
            "the file is larger than %(limit)s bytes",
            source=name,
            limit=format(limits.max_bytes, ","),
        )
    from icalendar import Calendar

    text = decode_text(data, name)
    spans = scan(text, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # icalendar warns about guessed TZIDs; we check
            calendar = Calendar.from_ical(text)
    except ValueError as exc:
        raise MalformedInput(
            "not a readable calendar: %(problem)s", source=name, problem=str(exc)[:200]
        ) from None
    if len([c for c in calendar.subcomponents if c.name == "VEVENT"]) != len(spans):
        raise MalformedInput("the events could not be matched to their lines", source=name)
    return calendar, spans


def _series(calendar: Calendar, spans: list[EventSpan]) -> dict[str, Series]:
    events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    series: dict[str, Series] = {}
    for event, span in zip(events, spans, strict=True):
        series.setdefault(str(event.get("UID", "")).strip(), []).append((event, span))
    return series


def _dt(component: Component, name: str) -> Any:
    """A date-time property's value (icalendar's property union has no common ``dt``)."""
    prop: Any = component[name]
    return prop.dt


def _rid_text(value: date | datetime, tz: ZoneInfo) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _recurrence_id(occurrence: Component, series: Series, tz: ZoneInfo) -> str:
    """The occurrence's own RECURRENCE-ID: its original start, also after RANGE=THISANDFUTURE.

    The library copies a THISANDFUTURE modification's RECURRENCE-ID onto every later
    occurrence; those are told apart by undoing the shift the modification applied.
    """
    prop = occurrence.get("RECURRENCE-ID")
    recurring = any(k in e for e, _ in series for k in ("RRULE", "RDATE", "RECURRENCE-ID"))
    if prop is None or not recurring:
        # The library stamps every occurrence with a RECURRENCE-ID, also a single event's;
        # keying a single event by its start would turn a moved lesson into a new one.
        return ""
    if str(prop.params.get("RANGE", "")).upper() != "THISANDFUTURE":
        return _rid_text(_dt(occurrence, "RECURRENCE-ID"), tz)
    for event, _ in series:
        mod = event.get("RECURRENCE-ID")
        if mod is not None and mod.to_ical() == prop.to_ical():
            shift = _dt(event, "DTSTART") - _dt(event, "RECURRENCE-ID")
            return _rid_text(_dt(occurrence, "DTSTART") - shift, tz)
    return _rid_text(_dt(occurrence, "RECURRENCE-ID"), tz)


def _expand(series: Series, window: Window, tz: ZoneInfo) -> list[Component]:
    import recurring_ical_events  # type: ignore[import-untyped]
    from icalendar import Calendar

    calendar = Calendar()
    for event, _ in series:
        calendar.add_component(event)
    first = _dt(series[0][0], "DTSTART")
    if isinstance(first, datetime) and first.tzinfo is None:
        # Floating times: expand on the wall clock, then read them in the school's zone.
        start = window.start.astimezone(tz).replace(tzinfo=None)
        end = window.end.astimezone(tz).replace(tzinfo=None)
    else:
        start, end = window.start, window.end
    found: list[Component] = recurring_ical_events.of(calendar).between(start, end)
    return found


def _instant(value: datetime, tz: ZoneInfo) -> datetime:
    return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(UTC)


def import_ical(
    data: bytes,
    *,
    source: str,
    tz: ZoneInfo,
    window: Window,
    mapping: SourceMapping | None = None,
    name: str | None = None,
    default_group: str | None = None,
    limits: Limits | None = None,
    partial: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Lesson occurrences of an iCalendar file within ``window``; pure apart from CPU time.

    ``progress(done, total)`` is called as the events are expanded (for a progress bar).
    """
    name = name or source
    limits = limits or Limits()
    mapping = mapping or parse_mapping(None)
    check_window(window, limits)
    calendar, spans = parse_calendar(data, name=name, limits=limits)
    problems = Problems(name, limits.max_problems)
    usable: list[tuple[str, Series]] = []
    total_steps = total_in_window = 0
    for uid, series in _series(calendar, spans).items():
        bad = False
        for event, span in series:
            found, steps, in_window = event_problems(
                event, window.start, window.end, limits.max_expansion_steps
            )
            if not found:
                total_steps += steps
                total_in_window += in_window
            for message in found:
                problems.add(message, line=span.line, uid=uid or None)
            bad = bad or bool(found)
        masters = [span for event, span in series if event.get("RECURRENCE-ID") is None]
        if uid and len(masters) > 1:
            problems.add(
                f"{len(masters)} events share this UID without a RECURRENCE-ID",
                line=masters[1].line,
                uid=uid,
            )
            bad = True
        if not bad:
            usable.append((uid, series))
    if total_steps > limits.max_expansion_steps:
        raise LimitExceeded(
            "the recurrences repeat about %(steps)s times up to %(end)s, over the limit of "
            "%(limit)s",
            source=name,
            steps=format(total_steps, ","),
            end=window.end.date(),
            limit=format(limits.max_expansion_steps, ","),
        )
    if total_in_window > limits.max_occurrences:
        # Checked before expanding: one dense series could otherwise fill memory on its own.
        raise LimitExceeded(
            "the events give up to %(count)s lessons in the window %(first)s to %(last)s, over the "
            "limit of %(limit)s; import a shorter period",
            source=name,
            count=format(total_in_window, ","),
            first=window.start.date(),
            last=window.end.date(),
            limit=format(limits.max_occurrences, ","),
        )
    tally = Tally()
    occurrences: list[Occurrence] = []
    for done, (uid, series) in enumerate(usable, 1):
        occurrences.extend(
            _occurrences(
                uid, series, source, tz, window, mapping, default_group, limits, problems, tally
            )
        )
        if len(occurrences) > limits.max_occurrences:
            raise LimitExceeded(
                "more than %(limit)s lessons in the window %(first)s to %(last)s; import a shorter "
                "period",
                source=name,
                limit=format(limits.max_occurrences, ","),
                first=window.start.date(),
                last=window.end.date(),
            )
        if progress is not None:
            progress(done, len(usable))
    kept = problems.settle(partial)
    return tally.result(source, window, occurrences, kept)


def _occurrences(
    uid: str,
    series: Series,
    source: str,
    tz: ZoneInfo,
    window: Window,
    mapping: SourceMapping,
    default_group: str | None,
    limits: Limits,
    problems: Problems,
    tally: Tally,
) -> Iterable[Occurrence]:
    line = series[0][1].line
    if not isinstance(_dt(series[0][0], "DTSTART"), datetime):
        tally.skip("all_day", len(series))
        return []
    try:
        expanded = _expand(series, window, tz)
    except (ValueError, TypeError) as exc:
        problems.add(f"the recurrence could not be expanded: {str(exc)[:200]}", line=line, uid=uid)
        return []
    found: list[Occurrence] = []
    for component in expanded:
        start, end = _dt(component, "DTSTART"), _dt(component, "DTEND")
        if not isinstance(start, datetime) or not isinstance(end, datetime):
            tally.skip("all_day")
            continue
        start, end = _instant(start, tz), _instant(end, tz)
        if limits.max_duration is not None and end - start > limits.max_duration:
            tally.skip("too_long")
            continue
        mapped = apply_mapping(
            mapping,
            summary=str(component.get("SUMMARY", "")),
            location=str(component.get("LOCATION", "")),
            description=str(component.get("DESCRIPTION", "")),
            max_chars=limits.max_field_chars,
        )
        for prop in mapped.unmatched:
            tally.unmatched(prop, str(component.get(prop.upper(), "")))
        group = mapped.group or default_group
        wrong = name_problem(mapped.subject, group, mapped.teacher, mapped.room)
        if wrong:
            problems.add(wrong, line=line, uid=uid)
            continue
        status = str(component.get("STATUS", "")).upper()
        found.append(
            Occurrence(
                source=source,
                uid=uid,
                recurrence_id=_recurrence_id(component, series, tz),
                start=start,
                end=end,
                subject=mapped.subject,
                group=group,
                teacher=mapped.teacher,
                room=mapped.room,
                remote=mapped.remote,
                cancelled=mapped.cancelled or status == "CANCELLED",
            )
        )
    return found
