"""A quick structural pass over iCalendar text that knows line numbers.

icalendar parses leniently and forgets where things were; this pass runs first and gives the
admin a line number for what makes a file unreadable (a line that is not ``NAME:value``,
``BEGIN``/``END`` that do not pair up, a second calendar), and tells the importer on which line
each VEVENT begins, so later problems can be reported as ``file.ics:120 (UID ...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.timetable.errors import MalformedInput

# RFC 5545 §3.1: name *(";" param) ":" value; parameter values may be quoted and hold ":".
_CONTENT_LINE = re.compile(
    r'[A-Za-z0-9-]+(?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*:'
)
MAX_DEPTH = 8


@dataclass(frozen=True)
class EventSpan:
    line: int  # the BEGIN:VEVENT line, 1-based
    uid: str | None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Unfolded content lines with the physical line each starts on; blank lines dropped."""
    result: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and result:
            first, content = result[-1]
            result[-1] = (first, content + raw[1:])
        elif raw.strip():
            result.append((number, raw))
    return result


def scan(text: str, name: str) -> list[EventSpan]:
    """The VEVENTs of a single VCALENDAR, in order; raises MalformedInput with a line number."""
    stack: list[tuple[str, int]] = []
    events: list[EventSpan] = []
    current: tuple[int, str | None] | None = None
    seen_calendar = False
    for number, content in _logical_lines(text):
        if not _CONTENT_LINE.match(content):
            raise MalformedInput(
                "not an iCalendar content line (expected NAME:value)", source=name, line=number
            )
        head, _, value = content.partition(":")
        prop = head.split(";", 1)[0].upper()
        if prop == "BEGIN":
            kind = value.strip().upper()
            if not stack and (kind != "VCALENDAR" or seen_calendar):
                if seen_calendar:
                    raise MalformedInput("a second calendar starts here", source=name, line=number)
                raise MalformedInput(
                    "the file must start with BEGIN:VCALENDAR, not BEGIN:%(kind)s",
                    source=name,
                    line=number,
                    kind=kind,
                )
            if len(stack) >= MAX_DEPTH:
                raise MalformedInput("components nested too deeply", source=name, line=number)
            stack.append((kind, number))
            seen_calendar = True
            if kind == "VEVENT" and len(stack) == 2:
                current = (number, None)
        elif prop == "END":
            kind = value.strip().upper()
            if not stack:
                raise MalformedInput(
                    "END:%(kind)s without a BEGIN", source=name, line=number, kind=kind
                )
            open_kind, open_line = stack.pop()
            if kind != open_kind:
                raise MalformedInput(
                    "END:%(kind)s does not close BEGIN:%(opened)s of line %(opened_at)s",
                    source=name,
                    line=number,
                    kind=kind,
                    opened=open_kind,
                    opened_at=open_line,
                )
            if kind == "VEVENT" and current is not None and len(stack) == 1:
                events.append(EventSpan(*current))
                current = None
        elif not stack:
            raise MalformedInput(
                "content outside BEGIN:VCALENDAR ... END:VCALENDAR", source=name, line=number
            )
        elif prop == "UID" and current is not None and len(stack) == 2 and current[1] is None:
            current = (current[0], value)
    if stack:
        kind, line = stack[-1]
        raise MalformedInput("BEGIN:%(kind)s is never closed", source=name, line=line, kind=kind)
    if not seen_calendar:
        raise MalformedInput("not an iCalendar file: no BEGIN:VCALENDAR", source=name, line=1)
    return events
