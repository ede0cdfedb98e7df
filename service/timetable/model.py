"""What every importer produces: lesson occurrences with UTC times, and the import's result.

An occurrence is keyed by ``(source, uid, recurrence_id)``: the source names where it came
from (one iCalendar feed, one CSV file, one Zermelo portal), the UID and RECURRENCE-ID are the
source's own identity for it, so a re-import updates the same lesson instead of adding one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from service.timetable.errors import Problem

Key = tuple[str, str, str]

MAX_SOURCE = 200  # service.models.Lesson.source
MAX_UID = 255  # service.models.Lesson.uid
MAX_SUBJECT = 100  # service.models.Lesson.subject
MAX_NAME = 64  # group, teacher and room codes


@dataclass(frozen=True)
class Occurrence:
    """One lesson as the source has it: start and end in UTC, names as the source codes them."""

    source: str
    uid: str
    recurrence_id: str  # "" for a single event; else the original start, e.g. 20250915T063000Z
    start: datetime
    end: datetime
    subject: str | None = None
    group: str | None = None
    teacher: str | None = None
    room: str | None = None
    remote: bool = False
    cancelled: bool = False
    changes: tuple[str, ...] = ()  # what the source says changed: moved, substitute, ...

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() != timedelta(0):
                raise ValueError(f"occurrence {name} must be in UTC, got {value!r}")
        if not self.start < self.end:
            raise ValueError("occurrence end must be after its start")

    @property
    def key(self) -> Key:
        return (self.source, self.uid, self.recurrence_id)

    def same_lesson(self, other: Occurrence) -> bool:
        """Whether two occurrences describe the same lesson (ignoring the change flags)."""
        return (
            self.start == other.start
            and self.end == other.end
            and self.subject == other.subject
            and self.group == other.group
            and self.teacher == other.teacher
            and self.room == other.room
            and self.remote == other.remote
            and self.cancelled == other.cancelled
        )


def utc(value: datetime) -> datetime:
    """The same instant in UTC; refuses naive datetimes, which would silently mean local time."""
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The half-open period [start, end) an import expands recurrences over and keeps."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window start and end need a time zone")
        if not self.start < self.end:
            raise ValueError("window end must be after its start")

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return start < self.end and end > self.start


@dataclass(frozen=True)
class ImportResult:
    """The occurrences an import found inside its window, and what it left out and why."""

    source: str
    window: Window
    occurrences: tuple[Occurrence, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    unmatched: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field -> examples
    unmatched_counts: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()  # entries left out; only when a partial import was asked


def name_problem(
    subject: str | None, group: str | None, teacher: str | None, room: str | None
) -> str | None:
    """Why these names cannot be stored, or None when they can."""
    for label, value, limit in (
        ("subject", subject, MAX_SUBJECT),
        ("group", group, MAX_NAME),
        ("teacher", teacher, MAX_NAME),
        ("room", room, MAX_NAME),
    ):
        if value is not None and len(value) > limit:
            return f"{label} {value[:40]!r}... is longer than {limit} characters"
        if value is not None and not value.isprintable():
            # Control characters would reach pages, CSV exports and terminals.
            return f"{label} {value[:40]!r} holds characters that are not printable"
    return None
