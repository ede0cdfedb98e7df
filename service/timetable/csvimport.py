"""CSV import for schools without a timetable export: one row per lesson.

Columns (a header row is required; names in any order and any case; comma, semicolon or tab):

    date       2025-09-15 or 15-09-2025                       required
    start      08:30 (or 8.30), the school's local time        required
    end        09:20, the same day                             required
    group      3B                                              required
    subject    wi                                              optional
    teacher    jdv                                             optional
    room       217                                             optional
    remote     ja/nee, yes/no, true/false, 1/0, x; empty = no  optional
    cancelled  as remote                                       optional
    uid        a stable id for the row; without it a row is known by date, start and group

Errors name the line: ``rooster.csv:12: end 08:20 is not after start 08:30``.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from service.timetable.errors import InputTooLarge, LimitExceeded, MalformedInput
from service.timetable.limits import Limits, check_window
from service.timetable.model import MAX_UID, ImportResult, Occurrence, Window, name_problem
from service.timetable.problems import Problems
from service.timetable.reading import decode_text
from service.timetable.tally import Tally

CSV_COLUMNS = (
    "date",
    "start",
    "end",
    "group",
    "subject",
    "teacher",
    "room",
    "remote",
    "cancelled",
    "uid",
)
REQUIRED = ("date", "start", "end", "group")
_TRUE = {"1", "ja", "j", "yes", "y", "true", "waar", "x"}
_FALSE = {"", "0", "nee", "n", "no", "false", "onwaar"}
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NL_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")


class RowError(ValueError):
    pass


def _date(text: str) -> date:
    if m := _ISO_DATE.match(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _NL_DATE.match(text):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    else:
        raise RowError(f"date {text[:20]!r} is not a date (YYYY-MM-DD or DD-MM-YYYY)")
    try:
        return date(year, month, day)
    except ValueError:
        raise RowError(f"date {text[:20]!r} does not exist") from None


def _time(text: str, column: str) -> time:
    m = _TIME.match(text)
    if not m:
        raise RowError(f"{column} {text[:20]!r} is not a time (HH:MM)")
    return time(int(m[1]), int(m[2]))


def _flag(text: str, column: str) -> bool:
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RowError(f"{column} {text[:20]!r} is not ja/nee (yes/no)")


def _local(day: date, at: time, tz: ZoneInfo, column: str) -> datetime:
    """The instant of a wall-clock time; a time skipped by daylight saving is an error."""
    value = datetime.combine(day, at, tz)
    if value.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value.replace(tzinfo=None):
        raise RowError(f"{column} {at:%H:%M} does not exist on {day} (daylight saving)")
    return value.astimezone(UTC)


def _header(row: list[str], name: str, line: int) -> list[str]:
    columns = [c.strip().casefold() for c in row]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise MalformedInput(
            "unknown column %(column)r; the columns are %(columns)s",
            source=name,
            line=line,
            column=unknown[0][:30],
            columns=", ".join(CSV_COLUMNS),
        )
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise MalformedInput(
            "the header lacks %(columns)s", source=name, line=line, columns=", ".join(missing)
        )
    if len(set(columns)) != len(columns):
        raise MalformedInput("a column appears twice in the header", source=name, line=line)
    return columns


def import_csv(
    data: bytes,
    *,
    source: str,
    tz: ZoneInfo,
    window: Window,
    name: str | None = None,
    limits: Limits | None = None,
    partial: bool = False,
) -> ImportResult:
    """Lesson occurrences of a CSV file within ``window``; every bad row with its line."""
    name = name or source
    limits = limits or Limits()
    check_window(window, limits)
    if len(data) > limits.max_bytes:
        raise InputTooLarge(
            "the file is larger than %(limit)s bytes",
            source=name,
            limit=format(limits.max_bytes, ","),
        )
    text = decode_text(data, name)
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(";,\t", key=first.count)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter, strict=True)
    problems = Problems(name, limits.max_problems)
    tally = Tally()
    occurrences: list[Occurrence] = []
    seen: dict[str, int] = {}
    columns: list[str] | None = None
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns = _header(row, name, line)
                continue
            if len(occurrences) + sum(tally.skipped.values()) >= limits.max_occurrences:
                raise LimitExceeded(
                    "more than %(limit)s rows",
                    source=name,
                    line=line,
                    limit=format(limits.max_occurrences, ","),
                )
            try:
                occurrence = _row(row, columns, source, tz)
            except RowError as exc:
                problems.add(str(exc), line=line)
                continue
            if occurrence.uid in seen:
                problems.add(
                    f"this row repeats line {seen[occurrence.uid]} (same uid, or same date, "
                    "start and group): give each row its own uid",
                    line=line,
                )
                continue
            seen[occurrence.uid] = line
            if not window.overlaps(occurrence.start, occurrence.end):
                tally.skip("outside_window")
                continue
            occurrences.append(occurrence)
    except csv.Error as exc:
        raise MalformedInput(
            "not readable as CSV: %(problem)s", source=name, line=reader.line_num, problem=exc
        ) from None
    if columns is None:
        raise MalformedInput("the file is empty: no header row", source=name, line=1)
    return tally.result(source, window, occurrences, problems.settle(partial))


def _row(row: list[str], columns: list[str], source: str, tz: ZoneInfo) -> Occurrence:
    if len(row) != len(columns):
        raise RowError(f"{len(row)} values where the header has {len(columns)} columns")
    cells = {c: v.strip() for c, v in zip(columns, row, strict=True)}
    for column in REQUIRED:
        if not cells[column]:
            raise RowError(f"{column} is empty")
    day = _date(cells["date"])
    start_time, end_time = _time(cells["start"], "start"), _time(cells["end"], "end")
    if end_time <= start_time:
        raise RowError(f"end {cells['end']} is not after start {cells['start']}")
    subject, teacher, room = (cells.get(c) or None for c in ("subject", "teacher", "room"))
    wrong = name_problem(subject, cells["group"], teacher, room)
    if wrong:
        raise RowError(wrong)
    uid = cells.get("uid") or f"{day.isoformat()}T{start_time:%H:%M}/{cells['group']}"
    if len(uid) > MAX_UID:
        raise RowError(f"uid is longer than {MAX_UID} characters")
    return Occurrence(
        source=source,
        uid=uid,
        recurrence_id="",
        start=_local(day, start_time, tz, "start"),
        end=_local(day, end_time, tz, "end"),
        subject=subject,
        group=cells["group"],
        teacher=teacher,
        room=room,
        remote=_flag(cells.get("remote", ""), "remote"),
        cancelled=_flag(cells.get("cancelled", ""), "cancelled"),
    )
