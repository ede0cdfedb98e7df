"""The lesson report as plain data: pure functions, no database, no clock.

``report_numbers`` turns the device summaries of one lesson into counts per category, app
family and 5-minute bucket; those numbers are what retention freezes when it deletes the
device-level rows, so a report reads the same before and after the purge, and what
``service.lesson_totals`` keeps a part of for pages that show many lessons.
``suppress_small_counts`` and ``suppress_rows`` apply the "fewer than N devices" disclosure
rule, ``is_small_count``; ``counted_devices`` says which devices count as a pupil at all.

Summaries are added up per device first (an agent restarted mid-lesson sends one per run), so
a device counts once per category, family and bucket. A summary's buckets count from its own
``started_at``; each is placed in the lesson bucket its start falls in, clamped to the lesson.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from policies.wire import BUCKET_SECONDS, PROBES, LessonSummary, format_time

# The collector's bound on one summary's ``dropped`` (service.ingest.bounds; reports may not
# import ingest, so it is repeated here and tests/service/test_hostile_ingest.py checks both).
MAX_DROPPED = 10_000


@dataclass(frozen=True)
class Reporter:
    """What the small-count rule reads of a device that sent a summary."""

    id: str
    enrolled_at: datetime
    fingerprint: str | None


def counted_devices(
    reporters: Iterable[Reporter], *, lesson_start: datetime, shared: Collection[str]
) -> set[str]:
    """The devices that can stand for a pupil of the lesson: enrolled by the time it began, with
    a fingerprint no other active device has (``shared``). Devices enrolled with a leaked code
    during the lesson, or clones of one laptop, would otherwise lift one pupil's figures to the
    threshold and uncover them."""
    return {
        r.id
        for r in reporters
        if r.enrolled_at <= lesson_start and (r.fingerprint is None or r.fingerprint not in shared)
    }


def _bucket_count(start: datetime, end: datetime) -> int:
    return max(1, math.ceil((end - start).total_seconds() / BUCKET_SECONDS))


def report_numbers(
    *,
    lesson_start: datetime,
    lesson_end: datetime,
    devices_expected: int,
    summaries: Sequence[tuple[str, LessonSummary]],
    unreadable: int = 0,
) -> dict[str, Any]:
    """Counts for one lesson from ``(device_id, summary)`` pairs; device ids do not leave here.

    A device's several summaries never add up past the lesson: its seconds per category and
    family are capped at the lesson's length, per bucket at the bucket's, its monitored seconds
    at the lesson's and its dropped count at ``MAX_DROPPED`` (the collector refuses summaries
    that claim more, but rows stored before it did, or by two transactions at once, remain).
    ``unreadable`` is how many stored summaries were left out because they no longer parse."""
    n_buckets = _bucket_count(lesson_start, lesson_end)
    lesson_seconds = int((lesson_end - lesson_start).total_seconds())
    cat_seconds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    fam_seconds: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    bucket_seconds: list[dict[str, dict[str, int]]] = [
        defaultdict(lambda: defaultdict(int)) for _ in range(n_buckets)
    ]
    gaps: dict[str, int] = defaultdict(int)
    monitored_of: dict[str, int] = defaultdict(int)
    dropped_of: dict[str, int] = defaultdict(int)
    unavailable: dict[str, set[str]] = defaultdict(set)
    for device, summary in summaries:
        monitored_of[device] += summary.coverage.seconds_monitored
        dropped_of[device] += summary.dropped
        gaps[device] += summary.coverage.gaps
        for probe, state in summary.coverage.probes.items():
            if state == "unavailable":
                unavailable[probe].add(device)
        for f in summary.findings:
            if f.seconds == 0:
                continue
            cat_seconds[f.category][device] += f.seconds
            fam_seconds[(f.category, f.family)][device] += f.seconds
            for i, seconds in enumerate(f.buckets):
                if not seconds:
                    continue
                at = summary.started_at + timedelta(seconds=i * BUCKET_SECONDS)
                offset = (at - lesson_start).total_seconds() // BUCKET_SECONDS
                b = min(max(int(offset), 0), n_buckets - 1)
                bucket_seconds[b][f.category][device] += seconds
    monitored = _capped(monitored_of, lesson_seconds)
    dropped = _capped(dropped_of, MAX_DROPPED)
    cat_devices = {c: set(per) for c, per in cat_seconds.items()}
    fam_devices = {k: set(per) for k, per in fam_seconds.items()}
    bucket_devices = [{c: set(per) for c, per in b.items()} for b in bucket_seconds]
    reporting = len(gaps)
    return {
        "devices_expected": devices_expected,
        "devices_reporting": reporting,
        "categories": [
            {
                "category": c,
                "devices": len(cat_devices[c]),
                "seconds": _capped(cat_seconds[c], lesson_seconds),
            }
            for c in sorted(cat_devices)
        ],
        "families": [
            {
                "category": c,
                "family": f,
                "devices": len(fam_devices[(c, f)]),
                "seconds": _capped(fam_seconds[(c, f)], lesson_seconds),
            }
            for c, f in sorted(fam_devices)
        ],
        "timeline": [
            {
                "start": format_time(lesson_start + timedelta(seconds=b * BUCKET_SECONDS)),
                "categories": [
                    {
                        "category": c,
                        "devices": len(bucket_devices[b][c]),
                        "seconds": _capped(bucket_seconds[b][c], BUCKET_SECONDS),
                    }
                    for c in sorted(bucket_devices[b])
                ],
            }
            for b in range(n_buckets)
        ],
        "coverage": {
            "lesson_seconds": lesson_seconds,
            "seconds_monitored": monitored,
            "devices_missing": max(devices_expected - reporting, 0),
            "devices_with_gaps": sum(1 for g in gaps.values() if g),
            "gaps": sum(gaps.values()),
            "dropped": dropped,
            "probes_unavailable": {p: len(unavailable[p]) for p in PROBES if unavailable[p]},
            "unreadable": unreadable,
        },
    }


def _capped(per_device: dict[str, int], cap: int) -> int:
    """The devices' sum, each device counted up to ``cap``."""
    return sum(min(seconds, cap) for seconds in per_device.values())


def _counted_rows(report: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every row of a report that counts devices doing something."""
    yield from report["categories"]
    yield from report["families"]
    for bucket in report["timeline"]:
        yield from bucket["categories"]


def is_small_count(devices: int, threshold: int) -> bool:
    """The disclosure rule: 1 to ``threshold`` - 1 devices are too few to show."""
    return 0 < devices < threshold


def suppress_rows(rows: Iterable[dict[str, Any]], threshold: int) -> list[dict[str, Any]]:
    """Copies of counted rows; those of too few devices show neither count nor seconds."""
    return [
        {**row, "devices": None, "seconds": None}
        if is_small_count(row["devices"], threshold)
        else dict(row)
        for row in rows
    ]


def suppress_small_counts(report: dict[str, Any], threshold: int) -> dict[str, Any]:
    """A copy in which rows counting fewer than ``threshold`` devices show neither count nor
    seconds, so no single pupil's behaviour can be read from them."""
    result = copy.deepcopy(report)
    for row in _counted_rows(result):
        if is_small_count(row["devices"], threshold):
            row["devices"] = None
            row["seconds"] = None
    result["suppressed_below"] = threshold
    return result
