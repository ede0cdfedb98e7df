"""Timetable import: iCalendar, CSV and Zermelo to lesson occurrences; holidays; sync plans.

Pure functions of their input (and of ``today``/``now`` where they need a date): nothing here
touches the database or the network. The collector reads a file or fetches a feed (gather),
calls these to get occurrences and a plan (decide), and writes the plan (act).
"""

from service.timetable.csvimport import CSV_COLUMNS, import_csv
from service.timetable.diff import Plan, apply_plan, plan_sync
from service.timetable.errors import (
    ImportRefused,
    InputTooLarge,
    LimitExceeded,
    MalformedInput,
    MappingError,
    Problem,
    TimetableError,
)
from service.timetable.holidays import REGIONS, Holiday, holiday_at, parse_holidays
from service.timetable.ical import import_ical
from service.timetable.limits import Limits, dates_window, school_year
from service.timetable.mapping import PRESETS, SourceMapping, parse_mapping
from service.timetable.model import ImportResult, Occurrence, Window
from service.timetable.preview import preview
from service.timetable.reading import read_bounded
from service.timetable.zermelo import import_zermelo

__all__ = [
    "CSV_COLUMNS",
    "PRESETS",
    "REGIONS",
    "Holiday",
    "ImportRefused",
    "ImportResult",
    "InputTooLarge",
    "LimitExceeded",
    "Limits",
    "MalformedInput",
    "MappingError",
    "Occurrence",
    "Plan",
    "Problem",
    "SourceMapping",
    "TimetableError",
    "Window",
    "apply_plan",
    "dates_window",
    "holiday_at",
    "import_csv",
    "import_ical",
    "import_zermelo",
    "parse_holidays",
    "parse_mapping",
    "plan_sync",
    "preview",
    "read_bounded",
    "school_year",
]
