"""The running agent against a collector on loopback, with real processes and real files.

Lessons here are a few seconds long, sampled every second with a 2-second grace period.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import identity, summary
from agent.cli import main as agent_main
from agent.config import Overrides
from agent.outbox import Outbox
from agent.paths import StatePaths
from agent.runner import Agent, Options
from policies.wire import parse_summary
from tests.agent.conftest import Processes, wait_for
from tests.agent.standin import Standin

pytestmark = pytest.mark.slow

FAST = Overrides(sample_seconds=1, grace_seconds=2, upload_delay_max_seconds=0)


def make_agent(state_dir: Path, **options: object) -> Agent:
    paths = StatePaths(state_dir)
    me, token = identity.load(paths, identity.machine_id())
    opts = Options(overrides=FAST, backoff_base=0.2, backoff_cap=1.0)
    for key, value in options.items():
        setattr(opts, key, value)
    return Agent(paths, me.server, token, opts)


@pytest.fixture
def running() -> Iterator[list[Agent]]:
    agents: list[Agent] = []
    yield agents
    for agent in agents:
        if not agent.stopping.is_set():
            agent.shutdown()


def start_agent(running: list[Agent], state_dir: Path, **options: object) -> Agent:
    agent = make_agent(state_dir, **options)
    running.append(agent)
    agent.start()
    return agent


def lesson_soon(
    collector: Standin, lead: float = 2.0, length: float = 6.0, **kw: bool
) -> tuple[str, datetime, datetime]:
    start = datetime.now(UTC) + timedelta(seconds=lead + collector.state.clock_skew)
    end = start + timedelta(seconds=length)
    return collector.add_lesson("3B", start, end, **kw), start, end


def until(moment: datetime, skew: float = 0.0) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds() - skew
    if delay > 0:
        time.sleep(delay)


def families(report: dict) -> dict[str, str]:
    return {f["family"]: f["category"] for f in report["findings"]}


def test_lesson_end_to_end(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """Apps and a screenshot during the lesson are reported by family; nothing private leaves."""
    lesson_id, start, end = lesson_soon(collector, lead=2.5, length=6.0)
    before = processes.start("signal-desktop")
    agent = start_agent(running, enrolled)
    until(start - timedelta(seconds=0.6))
    processes.stop(before)
    wait_for(lambda: agent.active is not None, timeout=5)
    for name in ("telegram-desktop", "Discord", "obs", "huiswerk-van-sanne"):
        processes.start(name)
    shots = Path(os.environ["HOME"]) / "Pictures" / "Screenshots"
    time.sleep(0.5)
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "Screenshot From 2026-11-24 - Chat met Sanne.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    until(end)
    processes.start("audacity")  # after the lesson: not counted
    wait_for(lambda: len(collector.reports()) == 1, timeout=15)
    (report,) = collector.reports()
    parse_summary(report)
    assert report["lesson_id"] == lesson_id
    assert families(report) == {
        "telegram": "social_media",
        "discord": "social_media",
        "obs": "screen_recording",
        "image_file": "capture_file",
    }
    assert report["coverage"]["samples"] >= 4
    assert report["coverage"]["probes"]["processes"] == "ok"
    assert report["coverage"]["probes"]["capture_files"] == "ok"
    assert report["coverage"]["probes"]["window_title"] == "off"
    traffic = collector.traffic()
    for private in (
        b"huiswerk-van-sanne",
        b"Chat met Sanne",
        b"Screenshot From",
        b"signal",
        b"audacity",
        os.environ["HOME"].encode(),
    ):
        assert private not in traffic
    assert agent.active is None and agent.state is None
    # explain shows pupils the last lesson's summaries exactly as the collector received them.
    heading = "Every summary sent for the last lesson, exactly as sent:\n"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert agent_main(["explain", "--state-dir", str(enrolled), "--lang", "en"]) == 0
    shown = buffer.getvalue().split(heading, 1)[1]
    body = shown.splitlines()[1]
    assert json.loads(body)["report_id"] == report["report_id"]
    assert body.encode() in traffic


def test_collector_down_for_the_whole_lesson(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """Down during the lesson and after it, back later: the summary arrives exactly once."""
    lesson_id, _start, end = lesson_soon(collector, lead=1.5, length=4.0)
    agent = start_agent(running, enrolled)
    wait_for(lambda: agent.config is not None and agent.config.lesson(lesson_id), timeout=5)
    collector.down()
    processes.start("telegram-desktop")
    until(end + timedelta(seconds=2.5))
    assert agent.outbox.counts()["queued"] == 1
    assert agent.uploader.attempt >= 1  # it tried, and is backing off
    collector.up()
    wait_for(lambda: agent.outbox.counts()["queued"] == 0, timeout=15)
    time.sleep(1.5)
    (report,) = collector.reports()
    assert report["lesson_id"] == lesson_id and "telegram" in families(report)
    assert collector.statuses("/api/v1/agent/reports").count(200) == 1


def test_permission_lifts_the_rule(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """A teacher's permission for social media means Telegram is no finding; OBS still is."""
    lesson_id, start, _ = lesson_soon(collector, lead=1.5, length=4.0)
    collector.grant(lesson_id, ["social_media"], start - timedelta(minutes=1))
    processes.start("telegram-desktop")
    processes.start("obs")
    start_agent(running, enrolled)
    wait_for(lambda: len(collector.reports()) == 1, timeout=15)
    assert families(collector.reports()[0]) == {"obs": "screen_recording"}


def test_cancelled_lesson_and_idle_time_are_not_sampled(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """A cancelled lesson is not monitored; outside lessons no sampling job exists at all."""
    _lesson_id, _, end = lesson_soon(collector, lead=0.5, length=2.0, cancelled=True)
    processes.start("telegram-desktop")
    agent = start_agent(running, enrolled)
    wait_for(lambda: agent.config is not None, timeout=5)
    until(end + timedelta(seconds=1))
    assert agent.active is None and agent.scheduler.get_job("sample") is None
    job_ids = {job.id for job in agent.scheduler.get_jobs()}
    assert job_ids <= {"config", "upload", "replan"}  # nothing periodic
    assert collector.reports() == [] and agent.outbox.counts()["queued"] == 0


def test_clock_offset_from_the_date_header(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """The collector's clock is 30 minutes ahead: lessons still start on the collector's time."""
    collector.state.clock_skew = 1800.0
    lesson_id, _start, _end = lesson_soon(collector, lead=1.5, length=4.0)
    processes.start("Discord")
    agent = start_agent(running, enrolled)
    wait_for(lambda: agent.active is not None, timeout=6)
    assert abs(agent.offset.total_seconds() - 1800) < 3
    wait_for(lambda: len(collector.reports()) == 1, timeout=15)
    report = collector.reports()[0]
    assert report["lesson_id"] == lesson_id and "discord" in families(report)


def test_shutdown_mid_lesson_commits_the_partial_summary(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """Stopping mid-lesson commits what was seen so far to the outbox, sent after the lesson."""
    lesson_id, _start, end = lesson_soon(collector, lead=1.0, length=30.0)
    processes.start("telegram-desktop")
    agent = start_agent(running, enrolled)
    wait_for(lambda: agent.state is not None and agent.state.samples >= 4, timeout=10)
    agent.shutdown()
    box = agent.outbox
    assert box.counts()["queued"] == 1 and box.running() is None
    (row,) = box.due(end + timedelta(seconds=1))
    body = json.loads(row.body)
    assert body["lesson_id"] == lesson_id and "telegram" in families(body)
    assert box.due(datetime.now(UTC)) == []  # not before the lesson has ended


def test_every_sample_is_checkpointed_so_a_crash_loses_at_most_one(
    collector: Standin, enrolled: Path, running: list[Agent]
) -> None:
    """After each sample the outbox's checkpoint holds every sample taken so far: what a
    kill -9 would leave behind lacks at most the sample being taken."""
    lesson_soon(collector, lead=1.0, length=30.0)
    agent = start_agent(running, enrolled)
    seen: list[tuple[int, int]] = []
    for target in (2, 3, 4):
        wait_for(lambda t=target: agent.state is not None and agent.state.samples >= t, 10)
        with agent.lock:
            assert agent.state is not None
            checkpoint = agent.outbox.running()
            assert checkpoint is not None
            seen.append((checkpoint["samples"], agent.state.samples))
    assert all(saved == taken for saved, taken in seen), seen


def test_after_a_crash_the_new_summary_waits_for_the_recovered_ones_end(
    collector: Standin, enrolled: Path, running: list[Agent]
) -> None:
    """A checkpoint whose last sample stands for seconds still to come: the restarted agent
    queues it ending there and starts the rest of the lesson (and its first sample) only then,
    so the two summaries do not overlap."""
    lesson_id, start, end = lesson_soon(collector, lead=-1.0, length=12.0)
    crashed = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        lesson_id,
        end,
        start,
        sample_seconds=4,
        grace_seconds=0,
    )
    crashed = summary.step(crashed, [], {"processes": "ok"}, datetime.now(UTC))
    until = summary.covered_until(crashed)
    box = Outbox(StatePaths(enrolled).ensure().outbox)
    box.checkpoint(summary.to_json(crashed), datetime.now(UTC))
    box.close()
    agent = start_agent(running, enrolled)
    wait_for(lambda: agent.state is not None and agent.state.samples >= 1, timeout=10)
    assert datetime.now(UTC) >= until
    agent.shutdown()
    # Both queued (the one recovered before any config came: within the default upload spread).
    bodies = [json.loads(row.body) for row in agent.outbox.due(end + timedelta(minutes=3))]
    first, rest = sorted(map(parse_summary, bodies), key=lambda s: s.started_at)
    assert first.report_id == crashed.report_id and first.ended_at == until
    assert rest.started_at == until and rest.coverage.samples >= 1


def test_wall_clock_jump_replans(enrolled: Path, running: list[Agent]) -> None:
    """When the wall clock moved an hour more than the monotonic one, the agent re-plans."""
    agent = start_agent(running, enrolled)
    wait_for(lambda: agent.config is not None, timeout=5)
    assert agent.check_clock() is False
    wall, mono = agent._clock
    agent._clock = (wall - 3600, mono)  # as after an hour with the lid closed
    assert agent.check_clock() is True
    assert agent.scheduler.get_job("replan") is not None or agent.active is None


def test_wait_returns_on_stop(enrolled: Path, running: list[Agent]) -> None:
    """The agent's main wait ends promptly when it is told to stop (SIGTERM)."""
    agent = start_agent(running, enrolled)
    threading.Timer(0.5, agent.stop).start()
    began = time.monotonic()
    agent.wait()
    assert time.monotonic() - began < 5


def test_permission_given_mid_lesson_counts_within_a_poll(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """A permission granted mid-lesson takes effect at the next in-lesson config poll."""
    collector.state.poll_seconds = {"in_lesson": 1, "idle": 900}
    lesson_id, start, _end = lesson_soon(collector, lead=1.0, length=9.0)
    processes.start("telegram-desktop")
    start_agent(running, enrolled)
    until(start + timedelta(seconds=3))
    collector.grant(lesson_id, ["social_media"], datetime.now(UTC))
    wait_for(lambda: len(collector.reports()) == 1, timeout=20)
    (finding,) = collector.reports()[0]["findings"]
    assert finding["family"] == "telegram"
    # Counted until the grant plus at most a poll and a sample, not for the whole lesson.
    assert 2 <= finding["seconds"] <= 6
    config_answers = collector.statuses("/api/v1/agent/config")
    assert 304 in config_answers and config_answers.count(200) >= 2


class _Leaky:
    """Not an observation: the engine trips over it, with a raw name in the message."""

    @property
    def path(self) -> str:
        raise AttributeError("geheime-chat-van-sanne")


class _LeakyProbe:
    name = "processes"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self) -> list[object]:
        return [_Leaky()]


def test_a_failing_job_is_logged_by_class_and_the_agent_goes_on(
    collector: Standin, enrolled: Path, running: list[Agent], caplog: pytest.LogCaptureFixture
) -> None:
    """A job that raises is logged without its message, and later jobs still run."""
    lesson_soon(collector, lead=0.5, length=3.0)
    with caplog.at_level(logging.INFO):
        agent = start_agent(running, enrolled, probes=lambda compiled: [_LeakyProbe()])
        wait_for(lambda: "job take_sample failed: AttributeError" in caplog.text, timeout=10)
        wait_for(lambda: agent.outbox.counts()["queued"] == 1 or collector.reports(), timeout=15)
    assert "geheime-chat-van-sanne" not in caplog.text


def test_lesson_lengthened_mid_lesson_is_monitored_to_its_new_end(
    collector: Standin, enrolled: Path, running: list[Agent], processes: Processes
) -> None:
    """The timetable moves the end later during the lesson: monitoring follows the new end."""
    collector.state.poll_seconds = {"in_lesson": 1, "idle": 900}
    lesson_id, start, end = lesson_soon(collector, lead=1.0, length=4.0)
    processes.start("telegram-desktop")
    start_agent(running, enrolled)
    until(start + timedelta(seconds=1.5))
    with collector.lock:
        (stored,) = [x for x in collector.state.lessons if x.id == lesson_id]
        stored.end = end + timedelta(seconds=4)
    wait_for(lambda: sum(r["lesson_id"] == lesson_id for r in collector.reports()) == 2, timeout=20)
    seconds = sum(f["seconds"] for r in collector.reports() for f in r["findings"])
    assert seconds >= 6  # more than the original four seconds
