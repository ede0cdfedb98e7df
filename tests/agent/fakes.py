"""Fakes for the running agent's seams: timers that fire when a fake clock is moved, a
collector at the client boundary that records when it was asked, and a probe that reports
what the test says is running. With these a school week runs in milliseconds, without sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from requests.structures import CaseInsensitiveDict

from agent.client import Answer, Unreachable
from agent.config import Lesson, Overrides, save_cache
from agent.paths import StatePaths
from agent.runner import Agent, Options
from agent.timers import Executor, Job
from policies.observations import ProcessSeen
from tests.agent.helpers import config_body
from tests.support.clock import FakeClock

# A job that keeps setting itself for the same moment is a bug in the runner, not a long week.
MAX_RUNS_AT_ONE_MOMENT = 1000


@dataclass
class _Timer:
    when: datetime
    fn: Job
    every: float | None
    grace: float | None
    executor: Executor


class FakeScheduler:
    """``agent.timers.Scheduler`` without threads: due jobs run when the test moves the clock.

    Like APScheduler: a date job runs once, however late unless its grace is exceeded; an
    interval job coalesces a backlog into one run and goes on from the current time.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timers: dict[str, _Timer] = {}
        self.ran: list[tuple[datetime, str]] = []
        self.started = False

    def start(self) -> None:
        self.started = True

    def shutdown(self) -> None:
        self.started = False
        self.timers.clear()

    def at(
        self, job_id: str, when: datetime, fn: Job, *, executor: Executor, grace: float | None
    ) -> None:
        self.timers[job_id] = _Timer(when, fn, None, grace, executor)

    def every(
        self, job_id: str, seconds: float, fn: Job, *, first: datetime, grace: float | None
    ) -> None:
        self.timers[job_id] = _Timer(first, fn, seconds, grace, "default")

    def cancel(self, job_id: str) -> None:
        self.timers.pop(job_id, None)

    def due(self, job_id: str) -> datetime | None:
        timer = self.timers.get(job_id)
        return None if timer is None else timer.when

    def next_due(self) -> datetime | None:
        return min((t.when for t in self.timers.values()), default=None)

    def run_due(self) -> None:
        """Run every job due at the clock's time, earliest first, and the ones they set."""
        for _ in range(MAX_RUNS_AT_ONE_MOMENT):
            now = self.clock.now
            due = [(t.when, job_id) for job_id, t in self.timers.items() if t.when <= now]
            if not due or not self.started:
                return
            when, job_id = min(due)
            timer = self.timers[job_id]
            if timer.every is None:
                del self.timers[job_id]
            else:
                step = timedelta(seconds=timer.every)
                timer.when = when + step * ((now - when) // step + 1)
            if timer.grace is None or (now - when).total_seconds() <= timer.grace:
                self.ran.append((now, job_id))
                timer.fn()
        raise AssertionError(f"jobs keep running at {self.clock.now}: {self.ran[-5:]}")

    def run_until(self, moment: datetime) -> None:
        """Let time pass until ``moment``: the clock stops at every job due on the way."""
        self.run_due()
        while (following := self.next_due()) is not None and following <= moment:
            if following > self.clock.now:
                self.clock.advance(following - self.clock.now)
            self.run_due()
        if moment > self.clock.now:
            self.clock.advance(moment - self.clock.now)
        self.run_due()

    def names(self) -> set[str]:
        return set(self.timers)


@dataclass
class FakeCollector:
    """The collector at the client boundary (``agent.client.Link``): serves a config with an
    ETag and a ``Date`` header from the fake clock, accepts every summary, records each
    request with its time."""

    clock: FakeClock
    lessons: list[Lesson] = field(default_factory=list)
    skew: timedelta = timedelta(0)  # the collector's clock minus the device's
    poll_seconds: dict[str, int] = field(default_factory=lambda: {"in_lesson": 60, "idle": 900})
    permissions: list[dict[str, Any]] = field(default_factory=list)
    timezone: str | None = "Europe/Amsterdam"
    down: bool = False
    requests: list[tuple[datetime, str]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # every summary, as sent

    def body(self) -> dict[str, Any]:
        body = config_body([(x.id, x.start, x.end) for x in self.lessons])
        for raw, lesson in zip(body["lessons"], self.lessons, strict=True):
            raw["cancelled"] = lesson.cancelled
        body["poll_seconds"] = dict(self.poll_seconds)
        body["permissions"] = list(self.permissions)
        body["school"] = {"name": "Demo"}
        if self.timezone is not None:
            body["school"]["timezone"] = self.timezone
        return body

    def _answer(self, status: int, body: Any, **headers: str) -> Answer:
        now = self.clock.now
        date = formatdate((now + self.skew).timestamp(), usegmt=True)
        return Answer(status, body, CaseInsensitiveDict({"date": date, **headers}), now, now)

    def _ask(self, kind: str) -> None:
        self.requests.append((self.clock.now, kind))
        if self.down:
            raise Unreachable("ConnectionError: refused (fake)")

    def config(self, etag: str | None) -> Answer:
        self._ask("config")
        body = self.body()
        tag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16] + '"'
        if etag == tag:
            return self._answer(304, None, etag=tag)
        return self._answer(200, body, etag=tag)

    def reports(self, bodies: list[str]) -> Answer:
        self._ask("reports")
        self.received.extend(json.loads(b) for b in bodies)
        return self._answer(200, {"results": [{"status": "accepted"} for _ in bodies]})

    def close(self) -> None:
        pass

    def times(self, kind: str) -> list[datetime]:
        return [at for at, what in self.requests if what == kind]


class FakeProbe:
    """The ``processes`` probe, seeing the app names in ``running`` (a list the test changes;
    anything not a name is passed on as it is)."""

    name = "processes"

    def __init__(self, running: list[Any]) -> None:
        self.running = running
        self.started = 0
        self.stopped = 0

    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1

    def sample(self) -> list[Any]:
        return [
            ProcessSeen(name=x, exe=f"/usr/bin/{x}") if isinstance(x, str) else x
            for x in self.running
        ]


AMS = ZoneInfo("Europe/Amsterdam")
# A sample a minute: a lesson is 50 samples, a simulated week takes well under a second each day.
MINUTE_SAMPLES = Overrides(sample_seconds=60, grace_seconds=60)


def ams(day: date, hhmm: str) -> datetime:
    """``hhmm`` on ``day`` in Amsterdam (the demo school's zone), as UTC."""
    local = datetime.combine(day, time(int(hhmm[:2]), int(hhmm[2:])), tzinfo=AMS)
    return local.astimezone(UTC)


@dataclass
class Rig:
    """A running agent on a fake clock, fake timers, a fake collector and a fake probe."""

    clock: FakeClock
    scheduler: FakeScheduler
    collector: FakeCollector
    running: list[Any]  # the apps the probe sees
    agent: Agent

    def until(self, moment: datetime) -> None:
        """Time passes until ``moment``, every timer on the way firing at its moment."""
        self.scheduler.run_until(moment)

    def jump(self, delta: timedelta) -> None:
        """Sleep and resume: the wall clock alone moves, and the agent's wall-clock wait
        wakes, as ``agent.waker`` makes it do. The collector's clock went on meanwhile."""
        self.clock.sleep(delta)
        self._woken()

    def set_clock(self, delta: timedelta) -> None:
        """Someone sets the device clock by ``delta``: the collector's clock does not move."""
        self.collector.skew -= delta
        self.clock.jump(delta)
        self._woken()

    def _woken(self) -> None:
        self.agent.check_clock()
        self.scheduler.run_due()

    def reports_of(self, lesson_id: str) -> list[dict[str, Any]]:
        return [r for r in self.collector.received if r["lesson_id"] == lesson_id]


def make_rig(
    state_dir: Path,
    now: datetime,
    lessons: list[Lesson],
    *,
    skew: timedelta = timedelta(0),
    cached: bool = True,
    enrolled_at: datetime | None = None,
    overrides: Overrides = MINUTE_SAMPLES,
) -> Rig:
    """An agent started at ``now``; ``cached``: with the collector's config already on disk
    (a device that has run before), else with none (just enrolled at ``enrolled_at``)."""
    paths = StatePaths(state_dir).ensure()
    clock = FakeClock(now)
    collector = FakeCollector(clock, list(lessons), skew=skew)
    scheduler = FakeScheduler(clock)
    if cached:
        save_cache(paths.config, collector.body(), None)
    if enrolled_at is not None:
        paths.token.write_text("token")
        os.utime(paths.token, (enrolled_at.timestamp(), enrolled_at.timestamp()))
    running: list[Any] = []
    options = Options(
        overrides=overrides,
        rand=lambda: 0.5,
        probes=lambda compiled: [FakeProbe(running)],
        clock=clock,
        scheduler=lambda: scheduler,
        link=lambda server, token: collector,
    )
    agent = Agent(paths, "http://127.0.0.1:9", "token", options)
    agent.start()
    scheduler.run_due()
    return Rig(clock, scheduler, collector, running, agent)
