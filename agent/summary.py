"""Folding samples into one lesson summary: pure, ``step(state, findings, probes, now)``.

A sample taken at offset ``t`` (whole seconds from the summary's start) stands for the
``sample_seconds`` after it, cut at the lesson's end. Consecutive samples no more than 1.5
intervals apart belong to one run, the same rule ActivityWatch uses for heartbeats
(pulsetime, activitywatch#1177): scheduling jitter must not split an episode in two. A finding
seen in consecutive samples is one episode; an episode shorter than the policy's grace period
is not counted at all. New capture files are events, not durations: each sample that saw one
counts, whatever the grace period.

Coverage is honest about what was watched: the seconds inside runs, the number of samples,
the number of gaps between runs, and per probe whether it worked in every sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from policies import Finding
from policies.wire import BUCKET_SECONDS, Coverage, FindingTotal, LessonSummary, ProbeState

Key = tuple[str, str, str, str]  # rule, article, category, family
MAX_FINDINGS = 200


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    last: int  # offset of the last sample in the span


@dataclass(frozen=True)
class Total:
    seconds: int = 0
    episodes: int = 0
    first_minute: int = 0
    buckets: tuple[int, ...] = ()


@dataclass(frozen=True)
class SummaryState:
    report_id: str
    lesson_id: str
    started_at: datetime  # whole second
    limit: int  # seconds from started_at to the lesson's end
    sample_seconds: int
    grace_seconds: int
    samples: int = 0
    gaps: int = 0
    covered: int = 0  # seconds in closed runs
    run: Span | None = None
    probes: Mapping[str, ProbeState] = field(default_factory=dict)
    open: Mapping[Key, Span] = field(default_factory=dict)
    events: frozenset[Key] = frozenset()
    totals: Mapping[Key, Total] = field(default_factory=dict)


def start(
    report_id: str,
    lesson_id: str,
    lesson_end: datetime,
    now: datetime,
    *,
    sample_seconds: int,
    grace_seconds: int,
) -> SummaryState:
    started = now.replace(microsecond=0)
    return SummaryState(
        report_id=report_id,
        lesson_id=lesson_id,
        started_at=started,
        limit=max(0, int((lesson_end - started).total_seconds())),
        sample_seconds=max(1, sample_seconds),
        grace_seconds=max(0, grace_seconds),
    )


def _merge_probe(old: ProbeState | None, new: ProbeState) -> ProbeState:
    if old is None or old == new:
        return new
    return "unavailable" if "unavailable" in (old, new) else "ok"


def _joins(span: Span | None, t: int, interval: int) -> bool:
    return span is not None and 0 <= t - span.last <= interval * 3 // 2


def _add(total: Total | None, span: Span, end: int, *, counts: bool) -> Total | None:
    length = min(span.end, end) - span.start
    if length <= 0 or not counts:
        return total
    buckets = list(total.buckets if total else ())
    pos = span.start
    while pos < span.start + length:
        i = pos // BUCKET_SECONDS
        upto = min((i + 1) * BUCKET_SECONDS, span.start + length)
        buckets.extend([0] * (i + 1 - len(buckets)))
        buckets[i] += upto - pos
        pos = upto
    if total is None:
        return Total(length, 1, span.start // 60, tuple(buckets))
    return Total(total.seconds + length, total.episodes + 1, total.first_minute, tuple(buckets))


def _close(state: SummaryState, totals: dict[Key, Total], key: Key, span: Span, end: int) -> None:
    long_enough = min(span.end, end) - span.start >= state.grace_seconds
    total = _add(totals.get(key), span, end, counts=key in state.events or long_enough)
    if total is not None:
        totals[key] = total


def step(
    state: SummaryState,
    findings: Iterable[Finding],
    probes: Mapping[str, ProbeState],
    now: datetime,
) -> SummaryState:
    """The state after one sample at ``now``; samples outside the lesson or out of order: none."""
    t = int((now - state.started_at).total_seconds())
    if t < 0 or t >= state.limit or (state.run is not None and t < state.run.last):
        return state
    s = state.sample_seconds
    end = min(t + s, state.limit)
    covered, gaps, run = state.covered, state.gaps, state.run
    if run is not None and _joins(run, t, s):
        run = Span(run.start, end, t)
    else:
        if run is not None:
            covered += run.end - run.start
            gaps += 1
        run = Span(t, end, t)
    seen: dict[Key, Finding] = {(f.rule, f.article, f.category, f.family): f for f in findings}
    events = state.events | {k for k, f in seen.items() if f.signal == "capture_file"}
    state = dataclasses.replace(state, events=events)
    totals = dict(state.totals)
    still_open: dict[Key, Span] = {}
    for key, span in state.open.items():
        if key in seen and _joins(span, t, s):
            still_open[key] = Span(span.start, end, t)
        else:
            # Not seen at ``t``: it ended by ``t`` at the latest, even if samples came early.
            _close(state, totals, key, span, min(span.end, t))
    for key in seen.keys() - still_open.keys():
        still_open[key] = Span(t, end, t)
    merged = {name: _merge_probe(state.probes.get(name), value) for name, value in probes.items()}
    return dataclasses.replace(
        state,
        samples=state.samples + 1,
        gaps=gaps,
        covered=covered,
        run=run,
        probes={**state.probes, **merged},
        open=still_open,
        totals=totals,
    )


def covered_until(state: SummaryState) -> datetime:
    """The end of what the samples so far stand for: where a crashed summary is cut."""
    end = state.run.end if state.run else 0
    return state.started_at + timedelta(seconds=end)


def resume_at(now: datetime, recovered_until: datetime | None) -> datetime:
    """When the rest of a lesson starts after a crash: not before the summary recovered from the
    checkpoint ends (``covered_until``: its last sample stands for the seconds after it), so
    summaries of one lesson from consecutive runs never overlap in time."""
    return now if recovered_until is None else max(now, recovered_until)


def finish(
    state: SummaryState, at: datetime, *, agent_version: str, dropped: int = 0
) -> LessonSummary:
    """The wire summary for everything up to ``at`` (cut at the lesson's end)."""
    # A summary always covers the samples it holds, so it never ends before the last one.
    last = state.run.last if state.run else 0
    cut = max(0, last, min(int((at - state.started_at).total_seconds()), state.limit))
    covered = state.covered + (
        max(0, min(state.run.end, cut) - state.run.start) if state.run else 0
    )
    totals = dict(state.totals)
    for key, span in state.open.items():
        _close(state, totals, key, span, cut)
    width = cut // BUCKET_SECONDS + 1
    findings = [
        FindingTotal(
            rule=key[0],
            article=key[1],
            category=key[2],
            family=key[3],
            seconds=total.seconds,
            episodes=total.episodes,
            first_minute=total.first_minute,
            buckets=(total.buckets + (0,) * width)[:width],
        )
        for key, total in sorted(totals.items())
        if total.seconds > 0
    ]
    findings = sorted(findings, key=lambda f: -f.seconds)[:MAX_FINDINGS]
    return LessonSummary(
        report_id=state.report_id,
        lesson_id=state.lesson_id,
        started_at=state.started_at,
        ended_at=state.started_at + timedelta(seconds=cut),
        agent_version=agent_version,
        coverage=Coverage(
            seconds_monitored=min(covered, cut),
            samples=state.samples,
            gaps=state.gaps,
            probes=dict(state.probes),
        ),
        findings=tuple(sorted(findings, key=lambda f: (f.rule, f.category, f.family))),
        dropped=dropped,
    )


def to_json(state: SummaryState) -> dict[str, Any]:
    """A checkpoint of the running summary: plain JSON, only catalog matches and numbers."""

    def span(x: Span | None) -> list[int] | None:
        return None if x is None else [x.start, x.end, x.last]

    return {
        "report_id": state.report_id,
        "lesson_id": state.lesson_id,
        "started_at": state.started_at.isoformat(),
        "limit": state.limit,
        "sample_seconds": state.sample_seconds,
        "grace_seconds": state.grace_seconds,
        "samples": state.samples,
        "gaps": state.gaps,
        "covered": state.covered,
        "run": span(state.run),
        "probes": dict(state.probes),
        "open": [[*k, *(span(v) or [])] for k, v in state.open.items()],
        "events": [list(k) for k in sorted(state.events)],
        "totals": [
            [*k, t.seconds, t.episodes, t.first_minute, list(t.buckets)]
            for k, t in state.totals.items()
        ],
    }


def from_json(data: dict[str, Any]) -> SummaryState:
    """Rebuild a checkpoint; raises KeyError, TypeError or ValueError if it is damaged."""

    def span(x: list[int] | None) -> Span | None:
        return None if x is None else Span(int(x[0]), int(x[1]), int(x[2]))

    def key(x: list[Any]) -> Key:
        return (str(x[0]), str(x[1]), str(x[2]), str(x[3]))

    return SummaryState(
        report_id=str(data["report_id"]),
        lesson_id=str(data["lesson_id"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        limit=int(data["limit"]),
        sample_seconds=int(data["sample_seconds"]),
        grace_seconds=int(data["grace_seconds"]),
        samples=int(data["samples"]),
        gaps=int(data["gaps"]),
        covered=int(data["covered"]),
        run=span(data["run"]),
        probes=dict(data["probes"]),
        open={key(x): Span(int(x[4]), int(x[5]), int(x[6])) for x in data["open"]},
        events=frozenset(key(x) for x in data["events"]),
        totals={
            key(x): Total(int(x[4]), int(x[5]), int(x[6]), tuple(int(b) for b in x[7]))
            for x in data["totals"]
        },
    )
