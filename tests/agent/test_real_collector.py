"""End to end against the real collector (``lessonwatch-service serve``) on loopback.

The collector runs on SQLite in the test's folder, behind a proxy that records every byte the
agent sends; the agent is a real ``lessonwatch-agent run`` process.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.cli import main as agent_main
from agent.paths import StatePaths
from tests.agent.conftest import AgentProcess, Processes
from tests.agent.real_collector import RealCollector, stored, stored_summaries
from tests.agent.test_cli import monitoring, queued
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
FAST = ("--sample-seconds", "1", "--grace-seconds", "2", "--upload-delay-max", "0")


@pytest.fixture
def real(tmp_path: Path) -> Iterator[RealCollector]:
    collector = RealCollector(tmp_path / "collector")
    yield collector
    collector.close()


def enrol(real: RealCollector, state: Path) -> None:
    code = real.enrolment_code("3B")
    assert (
        agent_main(["enroll", "--state-dir", str(state), "--server", real.url, "--code", code]) == 0
    )


def lesson_in(real: RealCollector, seconds: float, length: float) -> tuple[str, datetime, datetime]:
    start = (datetime.now(UTC) + timedelta(seconds=seconds + 1)).replace(microsecond=0)
    end = start + timedelta(seconds=length)
    return real.add_lesson("3B", start, end), start, end


def until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def test_lesson_end_to_end(
    real: RealCollector,
    tmp_path: Path,
    processes: Processes,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """The collector's report shows the right families; private names are nowhere."""
    state = tmp_path / "state"
    enrol(real, state)
    lesson_id, start, end = lesson_in(real, 5, 8)
    before = processes.start("signal-desktop")
    # The pupil's screenshot folder exists before the lesson, as on a used laptop.
    shots = Path(os.environ["HOME"]) / "Pictures" / "Screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    agent = agent_process(state, *FAST)
    until(start - timedelta(seconds=0.7))
    processes.stop(before)
    wait_for(lambda: monitoring(state), timeout=10)
    for name in ("telegram-desktop", "Discord", "obs", "dagboek-van-noor"):
        processes.start(name)
    time.sleep(0.5)
    (shots / "Screenshot From 2026-11-24 - Chat met Noor.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    until(end)
    processes.start("audacity")  # only after the lesson: not counted
    wait_for(lambda: len(stored_summaries(real, lesson_id)) == 1, timeout=30, interval=0.5)
    report = real.report(lesson_id)
    families = {(f["category"], f["family"]) for f in report["families"]}
    assert families == {
        ("social_media", "telegram"),
        ("social_media", "discord"),
        ("screen_recording", "obs"),
        ("capture_file", "image_file"),
    }
    assert report["devices_reporting"] == 1
    for private in (
        b"dagboek-van-noor",
        b"Chat met Noor",
        b"Screenshot From",
        b"signal-desktop",
        b"audacity",
    ):
        assert private not in real.traffic()
        assert private not in real.database_bytes()
    assert agent.terminate() == 0


def test_collector_down_for_the_whole_lesson(
    real: RealCollector,
    tmp_path: Path,
    processes: Processes,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """Collector down through the lesson and after it, back later: stored exactly once."""
    state = tmp_path / "state"
    enrol(real, state)
    lesson_id, _, end = lesson_in(real, 4, 4)
    processes.start("telegram-desktop")
    agent = agent_process(state, *FAST)
    wait_for(lambda: (state / "config.v1.json").exists(), timeout=10)
    real.down()
    until(end + timedelta(seconds=3))
    real.up()
    wait_for(lambda: len(stored_summaries(real, lesson_id)) == 1, timeout=40, interval=0.5)
    time.sleep(2)
    assert len(stored_summaries(real, lesson_id)) == 1
    report = real.report(lesson_id)
    assert {f["family"] for f in report["families"]} == {"telegram"}
    assert report["coverage"]["seconds_monitored"] <= 4
    assert agent.terminate() == 0


def test_kill_9_mid_lesson(
    real: RealCollector,
    tmp_path: Path,
    processes: Processes,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """SIGKILL mid-lesson, restart: two summaries, each stored once, added up in the report."""
    state = tmp_path / "state"
    enrol(real, state)
    lesson_id, start, _ = lesson_in(real, 3, 14)
    processes.start("Discord")
    first = agent_process(state, *FAST)
    until(start + timedelta(seconds=7))  # past the first checkpoint (five samples)
    first.kill()
    second = agent_process(state, *FAST)
    wait_for(lambda: len(stored_summaries(real, lesson_id)) == 2, timeout=40, interval=0.5)
    time.sleep(2)
    ids = stored_summaries(real, lesson_id)
    assert len(ids) == len(set(ids)) == 2
    report = real.report(lesson_id)
    (discord,) = [f for f in report["families"] if f["family"] == "discord"]
    assert discord["devices"] == 1 and 8 <= discord["seconds"] <= 15
    assert second.terminate() == 0


# The SIGKILL test's lesson, in seconds: long enough for several kills, short for the suite.
KILLED_LESSON = 40
SAMPLE = timedelta(seconds=1)  # FAST's --sample-seconds
WHOLE_SECOND = timedelta(seconds=1)  # summaries start and end on whole seconds
# From a restarted process to its first sample: the interpreter, the imports, the outbox and
# the cached config (about 0.6 s on an idle machine); the rest is room for a loaded one.
STARTUP = timedelta(seconds=2)


def kill_plan(rng: random.Random, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Four to six kills, each at a random moment of a slot of its own, with a random downtime
    (0.2 to 2 s) that ends a second before the slot does: the next kill finds an agent that
    has (almost always) started sampling."""
    kills = rng.randint(4, 6)
    first = start + timedelta(seconds=2)
    slot = (end - timedelta(seconds=3) - first) / kills
    plan = []
    for i in range(kills):
        down = rng.uniform(0.2, 2.0)
        room = slot.total_seconds() - down - 1.0
        plan.append((first + slot * i + timedelta(seconds=rng.uniform(0, room)), down))
    return plan


def checkpointed(state: Path) -> str | None:
    """The report id of the running lesson's checkpoint in the agent's outbox, if there is one."""
    db = sqlite3.connect(StatePaths(state).outbox)
    try:
        row = db.execute("SELECT report_id FROM running").fetchone()
    except sqlite3.OperationalError:  # the agent has not made its outbox yet
        return None
    finally:
        db.close()
    return str(row[0]) if row else None


def test_sigkill_at_random_moments_loses_only_the_downtime_and_a_sample_per_kill(
    real: RealCollector,
    tmp_path: Path,
    processes: Processes,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """Killed with SIGKILL at random moments of a lesson and restarted after a random downtime,
    each run that has started leaves a checkpoint, and the agent delivers one summary per run
    that left one, each stored once: no two overlap in time, each killed run's reaches to
    within a sample of its kill, and together they cover the lesson but for the downtime (from
    the kill to the new process) and at most one sample and one start-up per kill."""
    seed = random.randrange(2**32)
    state = tmp_path / "state"
    enrol(real, state)
    lesson_id, start, end = lesson_in(real, 3, KILLED_LESSON)
    processes.start("Discord")
    agent = agent_process(state, *FAST)
    plan = kill_plan(random.Random(seed), start, end)
    outages: list[tuple[datetime, datetime]] = []  # (killed, restarted)
    sampled: list[datetime] = []  # the kills of runs that had sampled
    left = None
    for at, down in plan:
        until(at)
        since = outages[-1][1] if outages else start
        killed = datetime.now(UTC)
        agent.kill()
        # A run killed before its first sample (still starting) leaves no checkpoint of its
        # own: the one it found, if any, is still there to be recovered by the next run.
        before, left = left, checkpointed(state)
        if left not in (None, before):
            sampled.append(killed)
        else:
            assert killed - since <= STARTUP, f"seed {seed}: no checkpoint after {killed - since}"
        time.sleep(down)
        agent = agent_process(state, *FAST)
        outages.append((killed, datetime.now(UTC)))
    until(end)
    wait_for(lambda: not monitoring(state) and not queued(state), timeout=30, interval=0.5)
    rows = stored(real, lesson_id)
    downtime = sum((up - killed for killed, up in outages), timedelta(0))
    covered = sum(r.seconds_monitored for r in rows)
    context = (
        f"seed {seed}, lesson {start:%H:%M:%S}-{end:%H:%M:%S}, killed and restarted "
        + ", ".join(f"{k:%H:%M:%S.%f}-{u:%S.%f}" for k, u in outages)
        + f" (sampled before {len(sampled)} of the kills), "
        + f"downtime {downtime.total_seconds():.2f} s, covered {covered} s, stored "
        + "; ".join(
            f"{r.started_at:%H:%M:%S}-{r.ended_at:%H:%M:%S} {r.seconds_monitored} s" for r in rows
        )
    )
    ids = [r.report_id for r in rows]
    assert len(ids) == len(set(ids)) == len(sampled) + 1, context
    assert start <= rows[0].started_at and rows[-1].ended_at <= end, context
    for earlier, later in itertools.pairwise(rows):
        assert earlier.ended_at <= later.started_at, context
    for run, killed in zip(rows[:-1], sampled, strict=True):
        # The checkpoint holds every sample but the one being taken; its last stands for the
        # sample's length after it, never more.
        assert killed - SAMPLE - WHOLE_SECOND <= run.ended_at <= killed + SAMPLE, context
    allowed = downtime + len(outages) * (SAMPLE + STARTUP)
    assert end - start - timedelta(seconds=covered) <= allowed, context
    report = real.report(lesson_id)
    (discord,) = [f for f in report["families"] if f["family"] == "discord"]
    assert discord["devices"] == 1 and 0 < discord["seconds"] <= covered, context
    assert agent.terminate() == 0


def test_an_unchanged_config_is_a_304_and_the_clock_offset_comes_from_date(
    real: RealCollector, tmp_path: Path
) -> None:
    """The real collector (uvicorn) names its headers in lower case: the agent still finds the
    ETag, so its second poll asks If-None-Match and gets a 304, and it reads the Date header
    for the clock offset."""
    from agent import identity
    from agent.paths import StatePaths
    from agent.runner import Agent
    from agent.schedule import clock_offset

    state = tmp_path / "state"
    enrol(real, state)
    me, token = identity.load(StatePaths(state), identity.machine_id())
    agent = Agent(StatePaths(state), me.server, token)
    first = agent.collector.config(None)
    assert first.status == 200 and first.headers.get("ETag")
    assert clock_offset(first.headers.get("Date"), first.sent, first.received) is not None
    agent.poll_config()
    assert agent.config is not None and agent.config.etag == first.headers["etag"]
    agent.poll_config()
    again = agent.collector.config(agent.config.etag)
    assert again.status == 304
    traffic = real.traffic()
    assert traffic.count(b"GET /api/v1/agent/config") == 4
    assert traffic.count(b"If-None-Match: " + agent.config.etag.encode()) == 2


def test_enrolment_sends_a_fingerprint_keyed_with_its_schools_key(
    real: RealCollector, tmp_path: Path
) -> None:
    """On the wire of real enrolments there is no machine id and no unkeyed hash of it. Two
    state directories of this machine (two clones of one image) in one school get one stored
    fingerprint, the school's key applied to the machine id; in another school the same machine
    gets another. The key stays on the collector: no state file holds it."""
    import hashlib
    import sqlite3

    from agent import identity

    raw = identity.machine_id()
    assert raw, "this test needs a machine id (/etc/machine-id)"
    enrolled: dict[str, str] = {}
    real.cli("schools", "add", "Other school")
    for name, school in (("a", "School"), ("b", "School"), ("c", "Other school")):
        code = real.cli("enroll-code", "create", "--group", "3B", "--school", school)
        state = tmp_path / name
        args = ["enroll", "--state-dir", str(state), "--server", real.url, "--code", code]
        assert agent_main(args) == 0
        enrolled[name] = json.loads((state / "identity.v1.json").read_text())["device_id"]
    traffic = real.traffic()
    assert traffic.count(b"POST /api/v1/agent/fingerprint-key") == 3
    for unkeyed in (
        raw,
        identity.legacy_fingerprint(raw),
        hashlib.sha256(raw.encode()).hexdigest(),
    ):
        assert unkeyed.encode() not in traffic
    db = sqlite3.connect(real.db)
    try:
        rows = db.execute(
            "SELECT devices.id, devices.fingerprint, schools.fingerprint_key FROM devices "
            "JOIN schools ON schools.id = devices.school_id"
        ).fetchall()
    finally:
        db.close()
    stored = {device: (mark, key) for device, mark, key in rows}
    (a, key), (b, _), (c, other_key) = (stored[enrolled[n]] for n in "abc")
    assert a == b == identity.keyed(key, raw)
    assert c == identity.keyed(other_key, raw) != a
    assert identity.legacy_fingerprint(raw).encode() not in real.database_bytes()
    on_devices = b"".join(p.read_bytes() for p in tmp_path.glob("[abc]/*") if p.is_file())
    assert key.encode() not in on_devices and other_key.encode() not in on_devices
