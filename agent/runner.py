"""The running agent: APScheduler jobs around the pure decisions, and the outbox.

Jobs (every one ``coalesce=True``, ``max_instances=1``, an explicit ``misfire_grace_time``):

- ``start:<lesson>`` and ``end:<lesson>``: DateTriggers at lesson boundaries, both calling
  ``replan``; a late start still starts within the lesson (grace = its length), a lesson missed
  entirely is not monitored after the fact (``replan`` looks at ``now`` only);
- ``sample``: every ``sample_seconds``, only while a lesson is monitored;
- ``config``: the next config poll (60 s in a lesson, ``poll_seconds.idle`` outside);
- ``upload``: when the next queued summary is due.

Outside lessons only ``config`` and the next boundary are scheduled: nothing wakes every few
seconds. Jobs that touch the lesson state run on one worker thread; HTTP runs on another so a
slow collector never delays a sample. Times handed to APScheduler are device times; everything
decided is in collector time (device time plus the offset measured from the ``Date`` header).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent import __version__, memory, summary
from agent.client import Collector, Unreachable
from agent.config import (
    AgentConfig,
    ConfigError,
    Lesson,
    Overrides,
    load_cache,
    parse_config,
    save_cache,
)
from agent.errors import CollectorError
from agent.executor import ThreadExecutor
from agent.outbox import Outbox
from agent.paths import StatePaths
from agent.probes import Probe, safe_call
from agent.sampler import build_probes, sample
from agent.schedule import clock_jumped, clock_offset, current_lesson
from agent.status import write_status
from agent.uploader import Uploader
from agent.waker import Waker
from policies import Compiled

if TYPE_CHECKING:  # the helper channel is imported only when it is used (run --helper-socket)
    from agent.hub import HelperSettings, Hub, Transport

log = logging.getLogger(__name__)

ProbeFactory = Callable[[Compiled], Sequence[Probe]]
NO_CONFIG_RETRY = timedelta(seconds=30)
LESSON_JOBS_AHEAD = 60
# The status file (for ``status`` and ``explain``) is rewritten at most this often in a lesson.
STATUS_EVERY = timedelta(minutes=1)


@dataclass
class Options:
    overrides: Overrides = field(default_factory=Overrides)
    backoff_base: float = 5.0
    backoff_cap: float = 900.0
    rand: Callable[[], float] = random.random
    probes: ProbeFactory = build_probes
    helper: HelperSettings | None = None  # listen for the per-user helper (run --helper-socket)


class Agent:
    def __init__(self, paths: StatePaths, server: str, token: str, options: Options | None = None):
        self.paths = paths.ensure()
        self.options = options or Options()
        self.outbox = Outbox(paths.outbox)
        self.collector = Collector(server, token)
        self.uploader = Uploader(
            self.outbox,
            self.collector,
            rand=self.options.rand,
            backoff_base=self.options.backoff_base,
            backoff_cap=self.options.backoff_cap,
        )
        self.config: AgentConfig | None = load_cache(paths.config, self.options.overrides)
        self.offset = timedelta(0)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.waker = Waker()
        self.active: Lesson | None = None
        self.state: summary.SummaryState | None = None
        # Lesson id -> where the summary recovered from a crash's checkpoint ends (``recover``).
        self.recovered: dict[str, datetime] = {}
        self.probes: Sequence[Probe] = ()
        self.probe_states: dict[str, str] = {}
        self.last_status = datetime.min.replace(tzinfo=UTC)
        self.hub: Hub | None = None
        self.channel: Transport | None = None
        self._clock = (time.time(), time.monotonic())
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadExecutor("jobs"), "net": ThreadExecutor("net")},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    # -- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Collector time: the device clock corrected by the measured offset."""
        return datetime.now(UTC) + self.offset

    def device(self, moment: datetime) -> datetime:
        return moment - self.offset

    def check_clock(self) -> bool:
        """True (and a re-plan) when the wall clock jumped against the monotonic clock."""
        wall, mono = time.time(), time.monotonic()
        before_wall, before_mono = self._clock
        self._clock = (wall, mono)
        if clock_jumped(
            timedelta(seconds=wall - before_wall), timedelta(seconds=mono - before_mono)
        ):
            log.warning(
                "wall clock jumped by %.0f s (sleep, resume or clock set): re-planning",
                (wall - before_wall) - (mono - before_mono),
            )
            self._run_soon(self.replan, "replan")
            self._run_soon(self.poll_config, "config", executor="net")
            return True
        return False

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._listen()
        self.scheduler.start()
        self._run_soon(self.poll_config, "config", executor="net")
        self._run_soon(self.replan, "replan")
        self.schedule_upload()

    def wait(self) -> None:
        """Block until ``stop()``, waking when the next job is due to check the clock.

        APScheduler waits on the monotonic clock, which stands still while the laptop sleeps;
        this loop waits on the wall clock (see ``agent.waker``), so after a resume or a clock
        change ``check_clock`` re-plans at once instead of a sleep's length too late.
        """
        while not self.stopping.is_set():
            jobs = [j.next_run_time for j in self.scheduler.get_jobs() if j.next_run_time]
            idle = self.config.poll_idle if self.config else 60
            due = min([time.time() + idle, *[t.timestamp() + 0.5 for t in jobs]])
            if self.waker.wait_until(due) == "stop":
                break
            self.check_clock()

    def stop(self) -> None:
        self.stopping.set()
        self.waker.stop()

    def shutdown(self) -> None:
        """Stop jobs, commit the running lesson's summary to the outbox, stop probes."""
        self.stop()
        self.scheduler.shutdown(wait=False)
        with self.lock:
            self._finish(self.now())
        self.collector.close()
        self.waker.close()
        if self.channel is not None:
            self.channel.close()

    def _listen(self) -> None:
        """Open the helper channel; if it cannot be opened the agent runs without it (and
        where the service depends on the helper, those probes are "unavailable")."""
        settings = self.options.helper
        if settings is None:
            return
        from agent.hub import Hub, listen

        self.hub = Hub(settings.required)
        channel: Transport | None = None
        try:
            channel = listen(settings, self.hub)
            channel.start()
        except Exception as exc:
            log.error("helper channel not opened: %s", exc.__class__.__name__)
            log.debug("helper channel not opened", exc_info=True)
            if channel is not None:
                self._guard(channel.close)()
            return
        self.channel = channel

    def recover(self) -> None:
        """A checkpoint left by a crash becomes its own summary; the lesson goes on in a new one."""
        data = self.outbox.running()
        if data is None:
            return
        try:
            state = summary.from_json(data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            log.error("damaged checkpoint discarded (%s)", exc.__class__.__name__)
            self.outbox.discard_running()
            return
        lesson = self.config.lesson(state.lesson_id) if self.config else None
        until = summary.covered_until(state)
        self._enqueue(state, until, lesson)
        self.recovered[state.lesson_id] = until
        log.info("recovered the checkpoint of lesson %s into the outbox", state.lesson_id)

    # -- jobs -------------------------------------------------------------------------------
    def _run_soon(self, fn: Callable[[], object], job_id: str, executor: str = "default") -> None:
        self.scheduler.add_job(
            self._guard(fn),
            DateTrigger(datetime.now(UTC)),
            id=job_id,
            replace_existing=True,
            executor=executor,
            misfire_grace_time=None,
        )

    def _guard(self, fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:
                # The background path never takes the agent down; the next job tries again.
                # The class only: a message may quote what a probe saw (psutil names the
                # process in AccessDenied); the traceback is there at debug level.
                name = getattr(fn, "__name__", "job")
                log.error("job %s failed: %s", name, exc.__class__.__name__)
                log.debug("job %s failed", name, exc_info=True)

        return run

    def replan(self) -> None:
        """Start or stop monitoring to match ``now``, and schedule the next lesson boundaries."""
        with self.lock:
            config, now = self.config, self.now()
            if config is None:
                return
            lesson = current_lesson(config.lessons, now)
            # A lesson that ended, or was moved or lengthened by the timetable, closes its
            # summary; the rest of a changed lesson goes into a new one (the report adds up).
            if self.active is not None and lesson != self.active:
                self._finish(now)
            if lesson is not None and self.active is None:
                self._begin(config, lesson, now)
            wanted: set[str] = set()
            upcoming = [x for x in config.lessons if not x.cancelled and x.end > now]
            for x in upcoming[:LESSON_JOBS_AHEAD]:
                length = int((x.end - x.start).total_seconds())
                for kind, at, grace in (("start", x.start, length), ("end", x.end, 12 * 3600)):
                    if at <= now:
                        continue
                    job_id = f"{kind}:{x.id}"
                    wanted.add(job_id)
                    self.scheduler.add_job(
                        self._guard(self.replan),
                        DateTrigger(self.device(at)),
                        id=job_id,
                        replace_existing=True,
                        misfire_grace_time=grace,
                    )
            for job in self.scheduler.get_jobs():
                if job.id.startswith(("start:", "end:")) and job.id not in wanted:
                    job.remove()
            write_status(self)
        # After start-up, a new config or a lesson's end, Python has freed what it built;
        # glibc keeps it until told (docs/performance.md, "Agent").
        memory.trim()

    def _begin(self, config: AgentConfig, lesson: Lesson, now: datetime) -> None:
        settings = config.compiled.policy.settings
        # After a crash the new summary (and its first sample) waits for the recovered one's end.
        begin = summary.resume_at(now, self.recovered.pop(lesson.id, None))
        self.active = lesson
        self.state = summary.start(
            str(uuid.uuid4()),
            lesson.id,
            lesson.end,
            begin,
            sample_seconds=settings.sample_seconds,
            grace_seconds=settings.grace_seconds,
        )
        self.probes = list(self.options.probes(config.compiled))
        if self.hub is not None and self.options.helper is not None:
            from agent.probes.helped import with_helper

            self.probes = with_helper(self.probes, self.hub, self.options.helper.required)
            self.hub.monitor(
                until=self.device(lesson.end).timestamp(),
                sample_seconds=settings.sample_seconds,
                titles=settings.window_title_probe,
                extensions=config.compiled.policy.capture_extensions,
                now=time.monotonic(),
            )
        for probe in self.probes:
            safe_call(f"{probe.name} start", probe.start)
        log.info("lesson %s: monitoring until %s", lesson.id, lesson.end.isoformat())
        self.scheduler.add_job(
            self._guard(self.take_sample),
            IntervalTrigger(seconds=settings.sample_seconds),
            id="sample",
            replace_existing=True,
            misfire_grace_time=settings.sample_seconds,
            next_run_time=self.device(begin),
        )
        self._next_poll(config.poll_in_lesson, sooner_only=True)

    def take_sample(self) -> None:
        self.check_clock()
        with self.lock:
            config, state, lesson, now = self.config, self.state, self.active, self.now()
            if config is None or state is None or lesson is None:
                return
            if now >= lesson.end:
                self.replan()
                return
            context = config.context(config.lesson(lesson.id) or lesson)
            findings, states = sample(
                self.probes, config.compiled, context, config.permissions, now
            )
            self.state = summary.step(state, findings, states, now)
            self.probe_states = dict(states)
            if state.samples == 0:
                memory.trim()  # the first sample read every process in full (the cold cache)
            # At every sample (one small write): a crash loses at most this one sample.
            self.outbox.checkpoint(summary.to_json(self.state), now)
            if now - self.last_status >= STATUS_EVERY:
                self.last_status = now
                write_status(self)

    def _finish(self, now: datetime) -> None:
        """End monitoring: stop probes and commit the summary (called with the lock held)."""
        if self.scheduler.get_job("sample"):
            self.scheduler.remove_job("sample")
        for probe in self.probes:
            safe_call(f"{probe.name} stop", probe.stop)
        if self.hub is not None:
            self.hub.idle()
        state, lesson = self.state, self.active
        self.state, self.active, self.probes = None, None, ()
        if state is not None:
            self._enqueue(state, min(now, lesson.end) if lesson else now, lesson)
            log.info("lesson %s: monitoring stopped, summary queued", state.lesson_id)
        write_status(self)

    def _enqueue(self, state: summary.SummaryState, at: datetime, lesson: Lesson | None) -> None:
        settings = self.config.compiled.policy.settings if self.config else None
        spread = settings.upload_delay_max_seconds if settings else 120
        ends = lesson.end if lesson else at
        not_before = ends + timedelta(seconds=self.options.rand() * spread)
        self.outbox.enqueue(
            lambda dropped: summary.finish(state, at, agent_version=__version__, dropped=dropped),
            now=self.now(),
            not_before=not_before,
        )
        if self.scheduler.running:
            self.schedule_upload()

    def schedule_upload(self, at: datetime | None = None) -> None:
        at = at or self.uploader.next_time(self.now())
        if at is None or self.stopping.is_set():
            return
        self.scheduler.add_job(
            self._guard(self.upload),
            DateTrigger(self.device(at)),
            id="upload",
            replace_existing=True,
            executor="net",
            misfire_grace_time=None,
        )

    def upload(self) -> None:
        following = self.uploader.run(self.now())
        write_status(self)
        if following is not None:
            self.schedule_upload(following)

    def _next_poll(self, seconds: float, *, sooner_only: bool = False) -> None:
        at = datetime.now(UTC) + timedelta(seconds=seconds)
        job = self.scheduler.get_job("config")
        if sooner_only and job and job.next_run_time and job.next_run_time <= at:
            return
        if self.stopping.is_set():
            return
        self.scheduler.add_job(
            self._guard(self.poll_config),
            DateTrigger(at),
            id="config",
            replace_existing=True,
            executor="net",
            misfire_grace_time=None,
        )

    def poll_config(self) -> None:
        config = self.config
        try:
            self._fetch_config(config)
        finally:
            current = self.config
            if current is None:
                self._next_poll(NO_CONFIG_RETRY.total_seconds())
            else:
                self._next_poll(current.poll_in_lesson if self.active else current.poll_idle)

    def _fetch_config(self, config: AgentConfig | None) -> None:
        try:
            answer = self.collector.config(config.etag if config else None)
        except Unreachable as exc:
            log.warning("config: collector unreachable (%s); using the last good config", exc)
            return
        except CollectorError as exc:
            log.error("config: %s; using the last good config", exc)
            return
        offset = clock_offset(answer.headers.get("Date"), answer.sent, answer.received)
        if offset is not None and abs(offset - self.offset) >= timedelta(seconds=2):
            log.warning(
                "device clock is off by %.0f s from the collector's; correcting",
                offset.total_seconds(),
            )
            self.offset = offset
        if answer.status == 304:
            return
        try:
            fresh = parse_config(answer.body, answer.headers.get("ETag"), self.options.overrides)
        except ConfigError as exc:
            log.error("config refused (%s); keeping the last good one", exc)
            return
        save_cache(self.paths.config, answer.body, fresh.etag)
        with self.lock:
            self.config = fresh
        self._run_soon(self.replan, "replan")
