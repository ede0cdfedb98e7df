"""The lesson summary as it crosses the wire: one per device per lesson.

Shared by the agent (which builds and sends it) and the collector (which checks and stores
it), dependency-free, like ActivityWatch's ``aw_core.models``. ``parse_summary`` is strict:
unknown fields, wrong types, out-of-range numbers and anything that is not a catalog match are
refused with a reason, so raw names or titles can never ride along in a field nobody reads.

    {
      "report_id": "<uuid4, made on the device when the summary is created>",
      "lesson_id": "<the collector's lesson id>",
      "started_at": "2026-11-24T08:30:00Z",   # monitoring window actually covered
      "ended_at": "2026-11-24T09:20:00Z",
      "agent_version": "0.1.0",
      "coverage": {
        "seconds_monitored": 2940, "samples": 196, "gaps": 1,
        "probes": {"processes": "ok", "capture_files": "ok", "camera": "unavailable", ...}
      },
      "findings": [
        {"rule": "a1-social-media", "article": "A.1", "category": "social_media",
         "family": "telegram", "seconds": 420, "episodes": 2, "first_minute": 12,
         "buckets": [0, 0, 120, 300, 0, ...]}      # seconds per 5-minute bucket from start
      ],
      "dropped": 0                                  # summaries this device had to drop
    }
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

PROBES = ("processes", "capture_files", "camera", "microphone", "window_title")
ProbeState = Literal["ok", "unavailable", "off"]
PROBE_STATES: tuple[ProbeState, ...] = ("ok", "unavailable", "off")
BUCKET_SECONDS = 300
MAX_LESSON_SECONDS = 12 * 3600
MAX_FINDINGS = 200
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_ARTICLE = re.compile(r"^[A-Z]\.?[0-9]{0,2}$")
_VERSION = re.compile(r"^[0-9A-Za-z.+-]{1,32}$")
_LESSON_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WireError(ValueError):
    """A summary that does not follow the wire format; the message is the reason returned."""


@dataclass(frozen=True)
class FindingTotal:
    rule: str
    article: str
    category: str
    family: str
    seconds: int
    episodes: int
    first_minute: int
    buckets: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "article": self.article,
            "category": self.category,
            "family": self.family,
            "seconds": self.seconds,
            "episodes": self.episodes,
            "first_minute": self.first_minute,
            "buckets": list(self.buckets),
        }


@dataclass(frozen=True)
class Coverage:
    seconds_monitored: int
    samples: int
    gaps: int
    probes: Mapping[str, ProbeState]

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds_monitored": self.seconds_monitored,
            "samples": self.samples,
            "gaps": self.gaps,
            "probes": dict(self.probes),
        }


@dataclass(frozen=True)
class LessonSummary:
    report_id: str
    lesson_id: str
    started_at: datetime
    ended_at: datetime
    agent_version: str
    coverage: Coverage
    findings: tuple[FindingTotal, ...]
    dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict, which deep-copies every value and was
        # about a third of the collector's cost per stored summary (bench/ingest/inprocess.py).
        # tests/policies/test_wire.py checks every field is here.
        return {
            "report_id": self.report_id,
            "lesson_id": self.lesson_id,
            "started_at": format_time(self.started_at),
            "ended_at": format_time(self.ended_at),
            "agent_version": self.agent_version,
            "coverage": self.coverage.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "dropped": self.dropped,
        }


def format_time(value: datetime) -> str:
    # The year by hand: strftime's %Y drops leading zeros on glibc ("1-01-01T..."), a text
    # parse_time then refuses, which made every later read of a year-1 summary fail.
    at = value.astimezone(UTC)
    return f"{at.year:04d}-" + at.strftime("%m-%dT%H:%M:%SZ")


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise WireError(f"{field} must be an ISO 8601 time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WireError(f"{field} is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise WireError(f"{field} must carry a time zone (use Z for UTC)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:30:00+01:00 is in year 0 in UTC, which datetime cannot hold.
        raise WireError(f"{field} is outside the years 1 to 9999 in UTC") from None


def _fields(
    obj: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise WireError(f"{where} must be an object")
    missing = sorted(required - set(obj))
    if missing:
        raise WireError(f"{where}: missing field '{missing[0]}'")
    extra = sorted(set(obj) - required - optional)
    if extra:
        raise WireError(f"{where}: unknown field '{str(extra[0])[:40]}'")
    return obj


def _int(value: Any, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise WireError(f"{field} must be a whole number from {low} to {high}")
    return value


def has_control_characters(text: str) -> bool:
    """Control and format characters (Unicode Cc, Cf): text with them can move a terminal's
    cursor, end a line or hide what follows, forging what IT and staff read."""
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in text)


def _name(value: Any, field: str, pattern: re.Pattern[str] = _NAME) -> str:
    # fullmatch: "$" alone lets one trailing newline through. The patterns admit printable
    # ASCII only, so a match holds no control character: the per-character Unicode look-up
    # (a tenth of the collector's CPU per summary) runs only for a name refused anyway, to say
    # why.
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    if isinstance(value, str) and has_control_characters(value):
        raise WireError(f"{field} must not contain control characters")
    raise WireError(f"{field} is not a valid identifier")


def parse_summary(obj: Any) -> LessonSummary:
    """Check one summary from the wire; raise WireError with the reason if it is refused."""
    data = _fields(
        obj,
        "summary",
        {
            "report_id",
            "lesson_id",
            "started_at",
            "ended_at",
            "coverage",
            "findings",
            "agent_version",
        },
        frozenset({"dropped"}),
    )
    report_id = data["report_id"]
    try:
        if not isinstance(report_id, str) or len(report_id) != 36:
            raise ValueError
        report_id = str(uuid.UUID(report_id))
    except ValueError:
        raise WireError("report_id must be a UUID") from None
    started = parse_time(data["started_at"], "started_at")
    ended = parse_time(data["ended_at"], "ended_at")
    if ended < started or (ended - started).total_seconds() > MAX_LESSON_SECONDS:
        raise WireError("ended_at must follow started_at by at most 12 hours")
    span = int((ended - started).total_seconds())
    coverage = _coverage(data["coverage"], span)
    findings_raw = data["findings"]
    if not isinstance(findings_raw, list) or len(findings_raw) > MAX_FINDINGS:
        raise WireError(f"findings must be a list of at most {MAX_FINDINGS}")
    findings = tuple(_finding(f, i, span) for i, f in enumerate(findings_raw))
    keys = [(f.rule, f.category, f.family) for f in findings]
    if len(set(keys)) != len(keys):
        raise WireError("findings list the same rule, category and family twice")
    return LessonSummary(
        report_id=report_id,
        lesson_id=_name(data["lesson_id"], "lesson_id", _LESSON_ID),
        started_at=started,
        ended_at=ended,
        agent_version=_name(data["agent_version"], "agent_version", _VERSION),
        coverage=coverage,
        findings=findings,
        dropped=_int(data.get("dropped", 0), "dropped", 0, 10_000_000),
    )


def _coverage(obj: Any, span: int) -> Coverage:
    data = _fields(obj, "coverage", {"seconds_monitored", "samples", "gaps", "probes"})
    probes = data["probes"]
    if not isinstance(probes, dict) or set(probes) - set(PROBES):
        raise WireError(f"coverage.probes may only name {', '.join(PROBES)}")
    for name, state in probes.items():
        if state not in PROBE_STATES:
            raise WireError(f"coverage.probes.{name} must be ok, unavailable or off")
    return Coverage(
        seconds_monitored=_int(data["seconds_monitored"], "coverage.seconds_monitored", 0, span),
        samples=_int(data["samples"], "coverage.samples", 0, MAX_LESSON_SECONDS),
        gaps=_int(data["gaps"], "coverage.gaps", 0, MAX_LESSON_SECONDS),
        probes=dict(probes),
    )


def _finding(obj: Any, i: int, span: int) -> FindingTotal:
    where = f"findings[{i}]"
    data = _fields(
        obj,
        where,
        {"rule", "article", "category", "family", "seconds", "episodes", "first_minute", "buckets"},
    )
    buckets = data["buckets"]
    max_buckets = span // BUCKET_SECONDS + 1
    if not isinstance(buckets, list) or len(buckets) > max_buckets:
        raise WireError(f"{where}.buckets must be a list of at most {max_buckets} numbers")
    seconds = _int(data["seconds"], f"{where}.seconds", 0, span)
    parsed = tuple(_int(b, f"{where}.buckets", 0, BUCKET_SECONDS) for b in buckets)
    if sum(parsed) != seconds:
        raise WireError(f"{where}.buckets must add up to seconds")
    article = data["article"]
    if not isinstance(article, str) or not _ARTICLE.fullmatch(article):
        raise WireError(f"{where}.article is not a protocol article")
    return FindingTotal(
        rule=_name(data["rule"], f"{where}.rule"),
        article=article,
        category=_name(data["category"], f"{where}.category"),
        family=_name(data["family"], f"{where}.family"),
        seconds=seconds,
        episodes=_int(
            data["episodes"], f"{where}.episodes", 1 if seconds else 0, MAX_LESSON_SECONDS
        ),
        first_minute=_int(data["first_minute"], f"{where}.first_minute", 0, span // 60 + 1),
        buckets=parsed,
    )


def check_against_policy(
    summary: LessonSummary, rules: Mapping[str, tuple[str, frozenset[str]]], families: set[str]
) -> None:
    """Refuse findings that are not catalog matches of the effective policy.

    ``rules`` maps rule id to (article, categories); ``families`` holds app-family and signal ids.
    """
    for f in summary.findings:
        rule = rules.get(f.rule)
        if rule is None:
            raise WireError(f"unknown rule '{f.rule}'")
        article, categories = rule
        if f.article != article or f.category not in categories:
            raise WireError(f"finding does not match rule '{f.rule}'")
        if f.family not in families:
            raise WireError(f"unknown app family '{f.family}'")
