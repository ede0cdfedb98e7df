"""CSV import for schools without a timetable export: one row per lesson.

The columns, under their English or Dutch names (``date`` or ``datum``, ``group`` or
``klas``, ...), in any order and any case, separated by commas, semicolons or tabs, are the
table in ``csvcolumns``; the upload page shows the same table. A header row is required.

Errors name the line, and a column as the file's header names it (``begin``, or ``start``):
``rooster.csv:12: 'eind' 08:20 is not after 'begin' 08:30``. Each carries a message id and its
values, so a page shows it in the reader's language.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from service.timetable.csvcolumns import (
    BY_KEY,
    COLUMNS,
    DELIMITERS,
    NO,
    REQUIRED,
    YES,
    Language,
    column_named,
    language_of,
    names,
)
from service.timetable.errors import InputTooLarge, LimitExceeded, MalformedInput
from service.timetable.limits import Limits, check_window
from service.timetable.model import MAX_UID, ImportResult, Occurrence, Window, name_problem
from service.timetable.problems import Problems
from service.timetable.reading import decode_text
from service.timetable.tally import Tally

CSV_COLUMNS = tuple(c.key for c in COLUMNS)
_TRUE = frozenset(YES)
_FALSE = frozenset(("", *NO))
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NL_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")


class RowError(ValueError):
    """One wrong row: a message id with its values (an extraction keyword of the catalog)."""

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.msgid, self.params = msgid, params
        super().__init__(msgid % params if params else msgid)


class _Header:
    """The header row read: each position's column key, and how the file names each column
    (so an error says ``begin`` to a file that says ``begin``)."""

    def __init__(self, keys: list[str], written: Mapping[str, str], language: Language) -> None:
        self.keys, self.written, self.language = keys, written, language

    def __len__(self) -> int:
        return len(self.keys)

    def name(self, key: str) -> str:
        """The column quoted as the file names it, or a column it lacks in the header's language
        (quoted: a page must not read the English ``remote`` as a word to translate)."""
        return repr(self.written.get(key) or BY_KEY[key].name(self.language))


def _date(text: str, header: _Header) -> date:
    if m := _ISO_DATE.match(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _NL_DATE.match(text):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    else:
        # The formats as words of the catalog (JJJJ in Dutch), the ones DATE_FORMATS lists.
        raise RowError(
            "%(column)s %(value)r is not a date (DD-MM-YYYY or YYYY-MM-DD)",
            column=header.name("date"),
            value=text[:20],
        )
    try:
        return date(year, month, day)
    except ValueError:
        raise RowError(
            "%(column)s %(value)r does not exist", column=header.name("date"), value=text[:20]
        ) from None


def _time(text: str, header: _Header, key: str) -> time:
    m = _TIME.match(text)
    if not m:
        raise RowError(
            "%(column)s %(value)r is not a time (HH:MM)", column=header.name(key), value=text[:20]
        )
    return time(int(m[1]), int(m[2]))


def _flag(text: str, header: _Header, key: str) -> bool:
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RowError(
        "%(column)s %(value)r is not ja/nee (yes/no)", column=header.name(key), value=text[:20]
    )


def _local(day: date, at: time, tz: ZoneInfo, header: _Header, key: str) -> datetime:
    """The instant of a wall-clock time; a time skipped by daylight saving is an error."""
    value = datetime.combine(day, at, tz)
    if value.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value.replace(tzinfo=None):
        raise RowError(
            "%(column)s %(time)s does not exist on %(day)s (daylight saving)",
            column=header.name(key),
            time=f"{at:%H:%M}",
            day=day.isoformat(),
        )
    return value.astimezone(UTC)


def _header(row: list[str], name: str, line: int) -> _Header:
    """Each cell read as a column by its English or Dutch name; an unknown, missing or twice
    named column is refused, named in the language the header is written in."""
    language = language_of(row)
    keys: list[str] = []
    written: dict[str, str] = {}
    for cell in row:
        column = column_named(cell)
        if column is None:
            raise MalformedInput(
                "unknown column %(column)s; the columns are %(columns)s",
                source=name,
                line=line,
                column=repr(cell.strip()[:30]),
                columns=names(language),
            )
        text = cell.strip().casefold()
        if column.key in written:
            if text == written[column.key]:
                raise MalformedInput(
                    "column %(column)s appears twice in the header",
                    source=name,
                    line=line,
                    column=repr(text),
                )
            raise MalformedInput(
                "columns %(first)s and %(second)s are the same column; keep one",
                source=name,
                line=line,
                first=repr(written[column.key]),
                second=repr(text),
            )
        keys.append(column.key)
        written[column.key] = text
    missing = [c.name(language) for c in COLUMNS if c.required and c.key not in written]
    if missing:
        raise MalformedInput(
            "the header lacks %(columns)s",
            source=name,
            line=line,
            columns=", ".join(map(repr, missing)),
        )
    return _Header(keys, written, language)


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
    delimiter = max(DELIMITERS, key=first.count)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter, strict=True)
    problems = Problems(name, limits.max_problems)
    tally = Tally()
    occurrences: list[Occurrence] = []
    seen: dict[str, int] = {}
    columns: _Header | None = None
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
                problems.add(str(exc), line=line, msgid=exc.msgid, params=exc.params)
                continue
            if occurrence.uid in seen:
                repeats = RowError(
                    "this row repeats line %(first)s (the same %(uid)s, or the same %(date)s, "
                    "%(start)s and %(group)s): give each row its own %(uid)s",
                    first=seen[occurrence.uid],
                    **{key: columns.name(key) for key in ("uid", "date", "start", "group")},
                )
                problems.add(str(repeats), line=line, msgid=repeats.msgid, params=repeats.params)
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


def _row(row: list[str], header: _Header, source: str, tz: ZoneInfo) -> Occurrence:
    if len(row) != len(header):
        raise RowError(
            "%(values)s values where the header has %(columns)s columns",
            values=len(row),
            columns=len(header),
        )
    cells = {key: value.strip() for key, value in zip(header.keys, row, strict=True)}
    for key in REQUIRED:
        if not cells[key]:
            raise RowError("%(column)s is empty", column=header.name(key))
    day = _date(cells["date"], header)
    start_time, end_time = (
        _time(cells["start"], header, "start"),
        _time(cells["end"], header, "end"),
    )
    if end_time <= start_time:
        raise RowError(
            "%(end)s %(end_time)s is not after %(start)s %(start_time)s",
            end=header.name("end"),
            end_time=cells["end"],
            start=header.name("start"),
            start_time=cells["start"],
        )
    subject, teacher, room = (cells.get(c) or None for c in ("subject", "teacher", "room"))
    wrong = name_problem(subject, cells["group"], teacher, room)
    if wrong:
        raise RowError(wrong)  # the importers' shared English text, as iCalendar's
    uid = cells.get("uid") or f"{day.isoformat()}T{start_time:%H:%M}/{cells['group']}"
    if len(uid) > MAX_UID:
        raise RowError(
            "%(column)s is longer than %(limit)s characters",
            column=header.name("uid"),
            limit=MAX_UID,
        )
    return Occurrence(
        source=source,
        uid=uid,
        recurrence_id="",
        start=_local(day, start_time, tz, header, "start"),
        end=_local(day, end_time, tz, header, "end"),
        subject=subject,
        group=cells["group"],
        teacher=teacher,
        room=room,
        remote=_flag(cells.get("remote", ""), header, "remote"),
        cancelled=_flag(cells.get("cancelled", ""), header, "cancelled"),
    )
