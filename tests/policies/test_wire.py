"""The lesson summary's wire format: strict in what it accepts, lossless in what it sends."""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Policy
from policies.wire import (
    Coverage,
    FindingTotal,
    LessonSummary,
    WireError,
    check_against_policy,
    parse_summary,
)

START = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def good() -> dict[str, Any]:
    return {
        "report_id": "6f1c9a52-3c1e-4c1d-9d1e-0a4b5c6d7e8f",
        "lesson_id": "l_abc123",
        "started_at": "2026-11-24T08:30:00Z",
        "ended_at": "2026-11-24T09:20:00Z",
        "agent_version": "0.1.0",
        "coverage": {
            "seconds_monitored": 2940,
            "samples": 196,
            "gaps": 1,
            "probes": {"processes": "ok", "camera": "unavailable"},
        },
        "findings": [
            {
                "rule": "a1-social-media",
                "article": "A.1",
                "category": "social_media",
                "family": "telegram",
                "seconds": 420,
                "episodes": 2,
                "first_minute": 12,
                "buckets": [0, 0, 120, 300],
            }
        ],
        "dropped": 0,
    }


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(good())
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


DELETE = object()

REFUSED = [
    ("findings.0.title", "Telegram - Klas 3B", "unknown field 'title'"),
    ("process_name", "telegram-desktop", "unknown field 'process_name'"),
    ("findings.0.family", "/usr/bin/telegram", "findings[0].family is not a valid identifier"),
    ("findings.0.family", "Telegram Desktop", "not a valid identifier"),
    ("report_id", "not-a-uuid", "report_id must be a UUID"),
    ("report_id", 5, "report_id must be a UUID"),
    ("lesson_id", "../../etc/passwd", "lesson_id is not a valid identifier"),
    ("started_at", "yesterday", "not an ISO 8601 time"),
    ("started_at", "2026-11-24T08:30:00", "must carry a time zone"),
    ("ended_at", "2026-11-24T08:00:00Z", "ended_at must follow started_at"),
    ("ended_at", "2026-11-25T09:20:00Z", "at most 12 hours"),
    ("coverage.seconds_monitored", 999_999, "from 0 to 3000"),
    ("coverage.samples", -1, "coverage.samples must be a whole number"),
    ("coverage.samples", 1.5, "coverage.samples must be a whole number"),
    ("coverage.gaps", True, "coverage.gaps must be a whole number"),
    ("coverage.probes", {"keylogger": "ok"}, "coverage.probes may only name"),
    ("coverage.probes", {"camera": "broken"}, "must be ok, unavailable or off"),
    ("findings.0.seconds", 421, "buckets must add up to seconds"),
    ("findings.0.buckets", [0, 301, 119], "findings[0].buckets must be a whole number"),
    ("findings.0.buckets", [0] * 12, "at most 11 numbers"),
    ("findings.0.episodes", 0, "findings[0].episodes"),
    ("findings.0.article", "<script>", "not a protocol article"),
    ("findings", [good()["findings"][0]] * 2, "the same rule, category and family twice"),
    ("findings", [good()["findings"][0]] * 201, "at most 200"),
    ("findings", "telegram", "findings must be a list"),
    ("coverage", DELETE, "missing field 'coverage'"),
    ("dropped", -3, "dropped must be a whole number"),
]


@pytest.mark.parametrize(("path", "value", "reason"), REFUSED, ids=[r[2] for r in REFUSED])
def test_malformed_or_hostile_summary_is_refused_with_a_reason(
    path: str, value: Any, reason: str
) -> None:
    """Unknown fields, wrong types, impossible numbers and raw strings are refused."""
    with pytest.raises(WireError) as caught:
        parse_summary(with_change(path, value))
    assert reason in str(caught.value)


@pytest.mark.parametrize("junk", [None, [], "summary", 7, {"report_id": None}])
def test_non_objects_are_refused(junk: Any) -> None:
    """Anything that is not a summary object is refused, never crashes."""
    with pytest.raises(WireError):
        parse_summary(junk)


def test_good_summary_parses_and_round_trips() -> None:
    """A valid summary parses to the same JSON it came from."""
    summary = parse_summary(good())
    assert summary.findings[0].family == "telegram"
    assert summary.to_json() == good()


def test_to_json_writes_every_field_of_every_part() -> None:
    """to_json is written out by hand (for speed): a field added to the dataclasses must be
    added there too, or this fails."""
    summary = parse_summary(good())
    data = summary.to_json()
    assert set(data) == {f.name for f in dataclasses.fields(LessonSummary)}
    assert set(data["coverage"]) == {f.name for f in dataclasses.fields(Coverage)}
    for finding in data["findings"]:
        assert set(finding) == {f.name for f in dataclasses.fields(FindingTotal)}
    assert data == json.loads(json.dumps(data)), "plain JSON types only"


def test_findings_must_be_matches_of_the_effective_policy(shipped: Policy) -> None:
    """A finding names a rule, category and family that the policy really has."""
    rules = {r.id: (r.article, r.categories) for r in shipped.rules}
    families = set(shipped.families) | set(shipped.signals)
    check_against_policy(parse_summary(good()), rules, families)
    for path, value, reason in [
        ("findings.0.rule", "a9-made-up", "unknown rule 'a9-made-up'"),
        ("findings.0.article", "A.7", "does not match rule"),
        ("findings.0.category", "camera", "does not match rule"),
        ("findings.0.family", "roblox", "unknown app family 'roblox'"),
    ]:
        with pytest.raises(WireError, match=reason):
            check_against_policy(parse_summary(with_change(path, value)), rules, families)


@settings(max_examples=200)
@given(
    minutes=st.integers(1, 120),
    data=st.data(),
)
def test_any_well_formed_summary_round_trips(minutes: int, data: st.DataObject) -> None:
    """What the agent builds, the collector parses back unchanged."""
    span = minutes * 60
    n_buckets = span // 300 + 1
    buckets = tuple(
        data.draw(st.lists(st.integers(0, 300), min_size=n_buckets, max_size=n_buckets))
    )
    seconds = sum(buckets)
    if seconds > span:
        return
    summary = LessonSummary(
        report_id=str(uuid.uuid4()),
        lesson_id="l_" + data.draw(st.text(alphabet="abcdef0123456789", min_size=1, max_size=20)),
        started_at=START,
        ended_at=START + timedelta(seconds=span),
        agent_version="0.1.0",
        coverage=Coverage(span, span // 15, 0, {"processes": "ok"}),
        findings=(
            FindingTotal(
                "a1-recording",
                "A.1",
                "capture_file",
                "image_file",
                seconds,
                1 if seconds else 0,
                0,
                buckets,
            ),
        ),
    )
    assert parse_summary(summary.to_json()) == summary
