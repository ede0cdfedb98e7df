"""The accumulator: samples in, one wire summary per lesson out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import summary
from policies import Finding
from policies.wire import parse_summary

T0 = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
TELEGRAM = Finding("a1-social-media", "A.1", "social_media", "telegram", "process")
DISCORD = Finding("a1-social-media", "A.1", "social_media", "discord", "process")
PNG = Finding("a1-recording", "A.1", "capture_file", "image_file", "capture_file")
OK = {"processes": "ok", "capture_files": "ok"}


def run(
    seen: list[list[Finding]],
    *,
    every: int = 15,
    grace: int = 60,
    length: int = 3000,
    at: int | None = None,
):
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        T0 + timedelta(seconds=length),
        T0,
        sample_seconds=every,
        grace_seconds=grace,
    )
    for i, findings in enumerate(seen):
        state = summary.step(state, findings, OK, T0 + timedelta(seconds=i * every))
    end = T0 + timedelta(seconds=at if at is not None else len(seen) * every)
    return summary.finish(state, end, agent_version="0.1.0")


def totals(result) -> dict[str, tuple[int, int, int]]:
    return {f.family: (f.seconds, f.episodes, f.first_minute) for f in result.findings}


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        # A family seen in four consecutive 15 s samples is one 60 s episode: it counts.
        ([[TELEGRAM]] * 4, {"telegram": (60, 1, 0)}),
        # Three samples (45 s) stay under the 60 s grace period: nothing counts.
        ([[TELEGRAM]] * 3, {}),
        # Two long episodes with a gap between them are two episodes.
        ([[TELEGRAM]] * 4 + [[]] * 2 + [[TELEGRAM]] * 5, {"telegram": (135, 2, 0)}),
        # A short flash between long episodes is not counted, the long ones are.
        (
            [[TELEGRAM]] * 4 + [[]] + [[TELEGRAM]] + [[]] + [[TELEGRAM]] * 4,
            {"telegram": (120, 2, 0)},
        ),
        # First sight is the minute of the first counted episode.
        ([[]] * 8 + [[DISCORD]] * 4, {"discord": (60, 1, 2)}),
        # A new capture file is an event: one sample counts whatever the grace period.
        ([[], [PNG], []], {"image_file": (15, 1, 0)}),
        # Nothing seen, nothing reported.
        ([[]] * 10, {}),
    ],
)
def test_grace_and_episodes(
    seen: list[list[Finding]], expected: dict[str, tuple[int, int, int]]
) -> None:
    """Episodes merge over consecutive samples; under the grace period they do not count."""
    assert totals(run(seen)) == expected


def test_jittered_samples_stay_one_episode() -> None:
    """Samples up to 1.5 intervals apart are one episode, as ActivityWatch's pulsetime."""
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        T0 + timedelta(hours=1),
        T0,
        sample_seconds=10,
        grace_seconds=30,
    )
    for offset in (0, 12, 21, 35, 44):
        state = summary.step(state, [TELEGRAM], OK, T0 + timedelta(seconds=offset))
    result = summary.finish(state, T0 + timedelta(seconds=54), agent_version="0.1.0")
    assert totals(result) == {"telegram": (54, 1, 0)}
    assert result.coverage.gaps == 0 and result.coverage.seconds_monitored == 54


def test_coverage_counts_gaps_and_probe_states() -> None:
    """A pause longer than 1.5 intervals is a gap; a probe unavailable once is reported so."""
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        T0 + timedelta(hours=1),
        T0,
        sample_seconds=15,
        grace_seconds=60,
    )
    for offset, camera in ((0, "ok"), (15, "unavailable"), (300, "ok")):
        state = summary.step(
            state, [], {"camera": camera, "processes": "ok"}, T0 + timedelta(seconds=offset)
        )
    result = summary.finish(state, T0 + timedelta(seconds=315), agent_version="0.1.0")
    assert result.coverage.samples == 3
    assert result.coverage.gaps == 1
    assert result.coverage.seconds_monitored == 45
    assert result.coverage.probes == {"camera": "unavailable", "processes": "ok"}


def test_buckets_split_at_five_minutes() -> None:
    """Seconds go into 5-minute buckets counted from the summary's start."""
    result = run([[]] * 16 + [[TELEGRAM]] * 8, at=360)
    (finding,) = result.findings
    assert finding.seconds == 120
    assert finding.buckets == (60, 60)


def test_samples_after_the_lesson_or_backwards_are_ignored() -> None:
    """A sample at or after the lesson's end, or before the previous one, changes nothing."""
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        T0 + timedelta(seconds=60),
        T0,
        sample_seconds=15,
        grace_seconds=0,
    )
    state = summary.step(state, [TELEGRAM], OK, T0 + timedelta(seconds=30))
    assert summary.step(state, [TELEGRAM], OK, T0 + timedelta(seconds=60)) == state
    assert summary.step(state, [TELEGRAM], OK, T0 + timedelta(seconds=10)) == state


def test_finish_cuts_at_the_moment_given() -> None:
    """A summary finished mid-sample claims nothing after that moment."""
    result = run([[TELEGRAM]] * 4, grace=0, at=50)
    assert result.ended_at == T0 + timedelta(seconds=50)
    assert totals(result) == {"telegram": (50, 1, 0)}
    assert result.coverage.seconds_monitored == 50


def test_checkpoint_round_trip() -> None:
    """A checkpoint restores the exact state, open episodes included."""
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        T0 + timedelta(hours=1),
        T0,
        sample_seconds=15,
        grace_seconds=60,
    )
    for i, seen in enumerate([[TELEGRAM], [TELEGRAM, PNG], [TELEGRAM], [TELEGRAM], [], [DISCORD]]):
        state = summary.step(state, seen, OK, T0 + timedelta(seconds=15 * i))
    assert summary.from_json(summary.to_json(state)) == state


def hour_long(run: int, at: datetime) -> summary.SummaryState:
    """The summary of one run of an hour-long lesson from ``T0``, started at ``at``."""
    return summary.start(
        f"6f1c2a4e-0000-4000-8000-00000000000{run}",
        "l_1",
        T0 + timedelta(hours=1),
        at,
        sample_seconds=15,
        grace_seconds=0,
    )


@pytest.mark.parametrize(
    ("restart", "recovered", "begins"),
    [
        # Back within the interval the checkpoint's last sample stands for: wait for its end.
        (50, True, 60),
        (60, True, 60),
        # Back after it: at once; the time between is the downtime.
        (75, True, 75),
        # No checkpoint recovered (a first start, or one of another lesson): at once.
        (50, False, 50),
    ],
)
def test_after_a_crash_the_rest_of_the_lesson_starts_where_the_recovered_summary_ends(
    restart: int, recovered: bool, begins: int
) -> None:
    """Killed after the sample at 45 s (it stands for 45-60 s) and restarted: the summary made
    from the checkpoint ends at 60 s, and the new one never starts before it."""
    crashed = hour_long(1, T0)
    for i in range(4):
        crashed = summary.step(crashed, [TELEGRAM], OK, T0 + timedelta(seconds=15 * i))
    until = summary.covered_until(crashed)
    first = summary.finish(crashed, until, agent_version="0.1.0")
    assert first.ended_at == until == T0 + timedelta(seconds=60)
    assert first.coverage.seconds_monitored == 60
    begin = summary.resume_at(T0 + timedelta(seconds=restart), until if recovered else None)
    rest = hour_long(2, begin)
    assert rest.started_at == T0 + timedelta(seconds=begins)


FINDINGS = st.sampled_from([TELEGRAM, DISCORD, PNG])


@settings(max_examples=150, deadline=None)
@given(
    every=st.integers(1, 120),
    grace=st.integers(0, 300),
    length=st.integers(1, 7200),
    steps=st.lists(st.tuples(st.integers(0, 400), st.sets(FINDINGS)), max_size=60),
    cut=st.integers(0, 8000),
)
def test_every_summary_is_valid_on_the_wire(every, grace, length, steps, cut) -> None:
    """Whatever the samples, the summary parses on the wire and claims no more than its span."""
    state = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        T0 + timedelta(seconds=length),
        T0,
        sample_seconds=every,
        grace_seconds=grace,
    )
    t = 0
    for delta, seen in steps:
        t += delta
        state = summary.step(state, sorted(seen), OK, T0 + timedelta(seconds=t))
    result = summary.finish(state, T0 + timedelta(seconds=cut), agent_version="0.1.0")
    parsed = parse_summary(result.to_json())
    span = int((parsed.ended_at - parsed.started_at).total_seconds())
    assert parsed.coverage.seconds_monitored <= span
    for f in parsed.findings:
        assert f.seconds <= span
