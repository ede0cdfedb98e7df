"""School holidays from the Rijksoverheid open data, and whether an instant falls in one.

The JSON that ``opendata.rijksoverheid.nl/v1/sources/rijksoverheid/infotypes/schoolholidays``
serves is a list of documents (one per school year; ``.../schoolyear/2025-2026`` serves one
document alone), each with ``content[].vacations[]``: a ``type`` (the holiday's name, sometimes
with stray whitespace), ``compulsorydates`` (``"true"`` for dates fixed by the government,
``"false"`` for advised dates a school may move) and ``regions[]`` with ``region`` (noord,
midden, zuid or "heel Nederland"), ``startdate`` and ``enddate``. The dates are timestamps in
UTC that stand for Dutch calendar days (a start at ``00:00Z``, an end at ``21:59Z`` or
``22:59Z``, which is 23:59 in Amsterdam); they are read as the day they fall on in Amsterdam,
and the end day is part of the holiday. See tests/timetable/fixtures/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.timetable.errors import InputTooLarge, MalformedInput

REGIONS = ("noord", "midden", "zuid")
NATIONWIDE = "heel nederland"
MAX_BYTES = 2 * 1024 * 1024
_DUTCH = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Holiday:
    name: str
    schoolyear: str
    region: str  # one of REGIONS or NATIONWIDE
    first_day: date
    last_day: date  # inclusive
    compulsory: bool


def _day(value: Any, where: str, name: str) -> date:
    if not isinstance(value, str):
        raise MalformedInput(
            "%(where)s must be a date string, got %(value).40r",
            source=name,
            where=where,
            value=value,
        )
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedInput(
            "%(where)s %(value)r is not a date", source=name, where=where, value=value[:40]
        ) from None
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(_DUTCH).date()


def _list(value: Any, where: str, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedInput("%(where)s must be a list", source=name, where=where)
    return value


def _object(value: Any, where: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedInput("%(where)s must be an object", source=name, where=where)
    return value


def parse_holidays(data: bytes, *, name: str = "schoolholidays.json") -> tuple[Holiday, ...]:
    """Every holiday period in a Rijksoverheid response; MalformedInput names the JSON path."""
    if len(data) > MAX_BYTES:
        raise InputTooLarge(
            "the file is larger than %(limit)s bytes", source=name, limit=format(MAX_BYTES, ",")
        )
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        raise MalformedInput(
            "not JSON: %(problem)s", source=name, line=line, problem=str(exc)[:120]
        ) from None
    documents = document if isinstance(document, list) else [document]
    found: list[Holiday] = []
    for d, doc in enumerate(documents):
        contents = _object(doc, f"[{d}]", name).get("content")
        for c, content in enumerate(_list(contents, f"[{d}].content", name)):
            content = _object(content, f"[{d}].content[{c}]", name)
            year = str(content.get("schoolyear", "")).strip()
            vacations = _list(content.get("vacations"), f"[{d}].content[{c}].vacations", name)
            for v, vacation in enumerate(vacations):
                where = f"[{d}].content[{c}].vacations[{v}]"
                found.extend(_vacation(_object(vacation, where, name), year, where, name))
    return tuple(sorted(found, key=lambda h: (h.first_day, h.region)))


def _vacation(vacation: dict[str, Any], year: str, where: str, name: str) -> list[Holiday]:
    title = " ".join(str(vacation.get("type", "")).split())
    if not title:
        raise MalformedInput("%(where)s.type is empty", source=name, where=where)
    compulsory = str(vacation.get("compulsorydates", "true")).strip().casefold() != "false"
    holidays = []
    for r, region in enumerate(_list(vacation.get("regions"), f"{where}.regions", name)):
        at = f"{where}.regions[{r}]"
        region = _object(region, at, name)
        code = " ".join(str(region.get("region", "")).split()).casefold()
        if code not in (*REGIONS, NATIONWIDE):
            raise MalformedInput(
                "%(where)s.region %(code)r is not noord, midden, zuid or heel Nederland",
                source=name,
                where=at,
                code=code[:30],
            )
        first = _day(region.get("startdate"), f"{at}.startdate", name)
        last = _day(region.get("enddate"), f"{at}.enddate", name)
        if last < first:
            raise MalformedInput(
                "%(where)s: the holiday ends before it starts", source=name, where=at
            )
        holidays.append(Holiday(title, year, code, first, last, compulsory))
    return holidays


def holiday_at(
    instant: datetime,
    region: str,
    holidays: Iterable[Holiday],
    tz: ZoneInfo,
    *,
    include_advised: bool = True,
) -> Holiday | None:
    """The holiday of ``region`` that ``instant`` falls in, on the school's local calendar."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, not {region!r}")
    if instant.tzinfo is None:
        raise ValueError("instant needs a time zone")
    for holiday in holidays:
        if holiday.region not in (region, NATIONWIDE):
            continue
        if not (holiday.compulsory or include_advised):
            continue
        start = datetime.combine(holiday.first_day, time(), tz)
        end = datetime.combine(holiday.last_day + timedelta(days=1), time(), tz)
        if start <= instant < end:
            return holiday
    return None
