"""The running agent: carries out the plans of ``schedule.plan`` with timers, probes and the outbox.

Gather, decide, act: ``replan`` gathers (config, what the agent knows, now), asks the pure
``schedule.plan`` what to monitor and when to poll, upload and wake, and carries that out:
start or stop monitoring, set the timers. Nothing here decides about time on its own.

Timers (``agent.timers``; APScheduler in production, every job coalesced, one instance, an
explicit misfire grace):

- ``boundary``: the next lesson start or end, calling ``replan``; however late it fires (the
  laptop slept), ``replan`` looks at ``now`` only, so a late start still starts within the
  lesson and a lesson missed entirely is not monitored after the fact;
- ``sample``: every ``sample_seconds``, only while a lesson is monitored;
- ``config``: the next config poll and ``upload``: the next upload, both only in the contact
  windows of the school day (docs/agent.md, "When the agent talks to the collector");
- ``replan``: at once, after a poll, an upload, a new config or a clock jump.

Outside lessons only ``boundary``, ``config`` and ``upload`` are set: nothing wakes every few
seconds. Jobs that touch the lesson state run on one worker thread; HTTP runs on another so a
slow collector never delays a sample. Time comes only from the ``Clock`` in ``Options``. Times
handed to the timers are device times; everything decided is in collector time (device time
plus the offset measured from the ``Date`` header).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from agent import __version__, memory, summary
from agent.clock import Clock, SystemClock
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
from agent.link import Answer, Link, Unreachable
from agent.outbox import Outbox
from agent.paths import StatePaths
from agent.probes import Probe, safe_call
from agent.remote import RemoteCollector
from agent.sampler import build_probes, sample
from agent.schedule import (
    Plan,
    PlanState,
    clock_jumped,
    clock_offset,
    clock_set_forward,
    plan,
    session_start,
)
from agent.status import write_status
from agent.timers import ApScheduler, Executor, Scheduler
from agent.uploader import Uploader
from agent.waker import Waker
from policies import Compiled

if TYPE_CHECKING:  # the helper channel is imported only when it is used (run --helper-socket)
    from agent.hub import HelperSettings, Hub, Transport

log = logging.getLogger(__name__)

ProbeFactory = Callable[[Compiled], Sequence[Probe]]
# The status file (for ``status`` and ``explain``) is rewritten at most this often in a lesson.
STATUS_EVERY = timedelta(minutes=1)
# Longer than a request can take (client.TIMEOUT): no second upload is set while one runs.
UPLOAD_IN_FLIGHT = timedelta(seconds=30)
# Without a config the agent's wait is cut into slices this long, to notice a clock jump.
IDLE_SLICE = timedelta(seconds=60)


@dataclass
class Options:
    overrides: Overrides = field(default_factory=Overrides)
    backoff_base: float = 5.0
    backoff_cap: float = 900.0
    rand: Callable[[], float] = random.random
    probes: ProbeFactory = build_probes
    helper: HelperSettings | None = None  # listen for the per-user helper (run --helper-socket)
    clock: Clock = field(default_factory=SystemClock)
    scheduler: Callable[[], Scheduler] = ApScheduler
    # Each contact in a short-lived process, so this one never loads the HTTP stack
    # (agent.remote); tests may pass ``agent.client.Collector`` or a fake.
    link: Callable[[str, str], Link] = RemoteCollector


class _Noted:
    """The collector link, noting every request's time: a contact the plan must know about."""

    def __init__(self, link: Link, note: Callable[[], None]) -> None:
        self.link, self.note = link, note

    def config(self, etag: str | None) -> Answer:
        self.note()
        return self.link.config(etag)

    def reports(self, bodies: list[str]) -> Answer:
        self.note()
        return self.link.reports(bodies)

    def close(self) -> None:
        self.link.close()


class Agent:
    def __init__(self, paths: StatePaths, server: str, token: str, options: Options | None = None):
        self.paths = paths.ensure()
        self.options = options or Options()
        self.clock = self.options.clock
        self.outbox = Outbox(paths.outbox)
        self.collector: Link = _Noted(self.options.link(server, token), self._note_contact)
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
        self.plan: Plan | None = None
        self.last_poll: datetime | None = None  # None: poll as soon as contact is allowed
        self.upload_hold: datetime | None = None  # the uploader's own pause between batches
        self.enrolled_at = _written_at(paths.token)
        self._trim = True  # hand freed memory back after the next plan (start-up)
        self._clock = (self.clock.wall(), self.clock.monotonic(), self.clock.suspended())
        self.scheduler = self.options.scheduler()

    # -- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Collector time: the device clock corrected by the measured offset."""
        return self.clock.wall() + self.offset

    def device(self, moment: datetime) -> datetime:
        return moment - self.offset

    def check_clock(self) -> bool:
        """True (and a re-plan) when the wall clock jumped against the monotonic clock."""
        wall, mono, asleep = self.clock.wall(), self.clock.monotonic(), self.clock.suspended()
        before_wall, before_mono, before_asleep = self._clock
        self._clock = (wall, mono, asleep)
        moved = timedelta(seconds=mono - before_mono)
        if not clock_jumped(wall - before_wall, moved):
            return False
        log.warning(
            "wall clock jumped by %.0f s (sleep, resume or clock set): re-planning",
            (wall - before_wall - moved).total_seconds(),
        )
        slept = (
            None
            if asleep is None or before_asleep is None
            else timedelta(seconds=asleep - before_asleep)
        )
        with self.lock:
            # The monotonic clock (and the OS's count of time asleep) kept time, so collector
            # time goes on from them until the next poll measures it: a clock set back, or set
            # forward where the OS says how long the device slept, changes no lesson.
            if wall - before_wall < moved:
                self.offset += moved - (wall - before_wall)
            else:
                self.offset -= clock_set_forward(wall - before_wall, moved, slept)
            # After a sleep the timetable may have changed: poll as soon as contact is allowed.
            self.last_poll = None
        self._soon(self.replan)
        return True

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._listen()
        self.scheduler.start()
        self._soon(self.replan)

    def wait(self) -> None:
        """Block until ``stop()``, waking when the next job is due to check the clock.

        APScheduler waits on the monotonic clock, which stands still while the laptop sleeps;
        this loop waits on the wall clock (see ``agent.waker``), so after a resume or a clock
        change ``check_clock`` re-plans at once instead of a sleep's length too late.
        """
        while not self.stopping.is_set():
            idle = timedelta(seconds=self.config.poll_idle) if self.config else IDLE_SLICE
            due = self.clock.wall() + idle
            following = self.scheduler.next_due()
            if following is not None:
                due = min(due, following + timedelta(seconds=0.5))
            if self.waker.wait_until(due.timestamp()) == "stop":
                break
            self.check_clock()

    def stop(self) -> None:
        self.stopping.set()
        self.waker.stop()

    def shutdown(self) -> None:
        """Stop jobs, commit the running lesson's summary to the outbox, stop probes."""
        self.stop()
        self.scheduler.shutdown()
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
        self.hub.on_helper_change = lambda: self._soon(self._status_now)
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

    def _status_now(self) -> None:
        """Rewrite the status file: a helper connected or went away, and ``status`` says so."""
        with self.lock:
            write_status(self)

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
    def _soon(self, fn: Callable[[], object]) -> None:
        self._timer(getattr(fn, "__name__", "job"), self.clock.wall(), fn, "default")

    def _timer(
        self, job_id: str, when: datetime | None, fn: Callable[[], object], executor: Executor
    ) -> None:
        """Set job ``job_id`` to run ``fn`` at device time ``when``; None cancels it."""
        if when is None:
            self.scheduler.cancel(job_id)
        elif not self.stopping.is_set() and self.scheduler.due(job_id) != when:
            # Grace None: however late a timer fires, the job looks at the time itself.
            self.scheduler.at(job_id, when, self._guard(fn), executor=executor, grace=None)

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

    def _note_contact(self) -> None:
        now = self.now()
        last, began = self.outbox.contact()
        self.outbox.note_contact(now, session_start(last, began, now))

    def gather(self, now: datetime) -> PlanState:
        """What the plan needs besides the config, read from the agent and its outbox."""
        due = self.uploader.next_time(now)
        if due is not None and self.upload_hold is not None:
            due = max(due, self.upload_hold)
        last_contact, session = self.outbox.contact()
        return PlanState(
            last_poll=self.last_poll,
            last_contact=last_contact,
            session=session,
            upload_due=due,
            enrolled_at=None if self.enrolled_at is None else self.enrolled_at + self.offset,
            # The device's zone now (a fixed offset): only used when the config names none.
            zone=self.clock.wall().astimezone().tzinfo or UTC,
        )

    def replan(self) -> None:
        """Gather, plan, act: monitor what the plan says and set the timers it asks for."""
        with self.lock:
            now, before = self.now(), self.active
            decided = plan(self.config, self.gather(now), now)
            if self._monitor(decided.lesson, now):
                # A lesson that ended queued its summary: plan again to include its upload.
                decided = plan(self.config, self.gather(now), now)
            self.plan = decided
            self._timer("boundary", self._device(decided.boundary), self.replan, "default")
            self._timer("config", self._device(decided.poll_at), self.poll_config, "net")
            self._timer("upload", self._device(decided.upload_at), self.upload, "net")
            trim, self._trim = self._trim, False
            if self.active != before or trim:  # uploads write it in upload()
                write_status(self)
        if trim:
            # After start-up, a new config or a lesson's end, Python has freed what it built;
            # glibc keeps it until told (docs/performance.md, "Agent").
            memory.trim()

    def _device(self, moment: datetime | None) -> datetime | None:
        return None if moment is None else self.device(moment)

    def _monitor(self, lesson: Lesson | None, now: datetime) -> bool:
        """Start or stop monitoring to match the plan; True when a summary was queued."""
        finished = False
        # A lesson that ended, or was moved or lengthened by the timetable, closes its
        # summary; the rest of a changed lesson goes into a new one (the report adds up).
        if self.active is not None and lesson != self.active:
            finished = self.state is not None
            self._finish(now)
        if lesson is not None and self.active is None and self.config is not None:
            self._begin(self.config, lesson, now)
        return finished

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
                now=self.clock.monotonic(),
                catalog={k: f.category for k, f in config.compiled.policy.families.items()},
            )
        for probe in self.probes:
            safe_call(f"{probe.name} start", probe.start)
        log.info("lesson %s: monitoring until %s", lesson.id, lesson.end.isoformat())
        self.scheduler.every(
            "sample",
            settings.sample_seconds,
            self._guard(self.take_sample),
            first=self.device(begin),
            grace=settings.sample_seconds,
        )

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
        self.scheduler.cancel("sample")
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
        self._trim = True

    def upload(self) -> None:
        with self.lock:
            # A re-plan while the request is in flight must not set another upload for now.
            self.upload_hold = self.now() + UPLOAD_IN_FLIGHT
        following = self.uploader.run(self.now())
        with self.lock:
            self.upload_hold = following
        write_status(self)
        self._soon(self.replan)

    def poll_config(self) -> None:
        with self.lock:
            self.last_poll = self.now()
        try:
            self._fetch_config(self.config)
        finally:
            self._soon(self.replan)  # the next poll, and boundaries under a new config or offset

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
            with self.lock:
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
            self._trim = True


def _written_at(token: Path) -> datetime | None:
    """When the device enrolled: its token file is written then and never after."""
    try:
        return datetime.fromtimestamp(token.stat().st_mtime, UTC)
    except OSError:
        return None
