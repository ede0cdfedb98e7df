"""The agent's APScheduler executor: one thread, jobs in order, outcomes told as the pool did."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from agent.executor import ThreadExecutor
from tests.support.waiting import wait_for

WAIT = 10.0  # seconds; every wait below ends as soon as its event is set


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadExecutor("jobs"), "net": ThreadExecutor("net")},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    scheduler.start()
    yield scheduler
    if scheduler.running:
        settled(scheduler)
        scheduler.shutdown(wait=False)


def settled(scheduler: BackgroundScheduler) -> None:
    """Wait until APScheduler's thread has taken the run-once jobs it handed out off its store:
    shutting down empties the store, and its later removal then raises in that thread (seen
    under a loaded run)."""
    wait_for(lambda: not scheduler.get_jobs(), timeout=WAIT)


def now_job(scheduler: BackgroundScheduler, fn: object, job_id: str, executor: str = "default"):
    return scheduler.add_job(
        fn, DateTrigger(datetime.now(UTC)), id=job_id, executor=executor, misfire_grace_time=None
    )


def test_jobs_of_one_executor_run_in_order_on_one_thread_and_apart_from_the_other(
    scheduler: BackgroundScheduler,
) -> None:
    """Like ThreadPoolExecutor(1): one named thread per executor, submitted jobs one by one."""
    ran: list[tuple[str, str]] = []
    release, done = threading.Event(), threading.Event()

    def job(name: str) -> None:
        if name == "first":
            assert release.wait(WAIT)  # the second job waits behind the first
        ran.append((name, threading.current_thread().name))
        if name == "second":
            done.set()

    now_job(scheduler, lambda: job("first"), "first")
    now_job(scheduler, lambda: job("second"), "second")
    net = threading.Event()
    now_job(scheduler, lambda: (ran.append(("net", threading.current_thread().name)), net.set()),
            "net", executor="net")  # fmt: skip
    assert net.wait(WAIT)  # runs while the other executor's first job is still waiting
    release.set()
    assert done.wait(WAIT)
    assert ran == [("net", "net"), ("first", "jobs"), ("second", "jobs")]


def test_each_outcome_goes_back_to_the_scheduler_and_a_failure_stops_nothing(
    scheduler: BackgroundScheduler,
) -> None:
    """A job that raises is an error event, the next one runs, and a job that ran may run
    again (max_instances counts only running jobs): what the pool's done-callback did."""
    events: list[JobExecutionEvent] = []
    heard = [threading.Event() for _ in range(3)]

    def listen(event: JobExecutionEvent) -> None:
        events.append(event)
        heard[len(events) - 1].set()

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    now_job(scheduler, lambda: 1 / 0, "fails")
    now_job(scheduler, lambda: 42, "works")
    assert heard[1].wait(WAIT)
    now_job(scheduler, lambda: 43, "works")  # the same id again, now that it has run
    assert heard[2].wait(WAIT)
    assert [(e.job_id, e.code, type(e.exception), e.retval) for e in events] == [
        ("fails", EVENT_JOB_ERROR, ZeroDivisionError, None),
        ("works", EVENT_JOB_EXECUTED, type(None), 42),
        ("works", EVENT_JOB_EXECUTED, type(None), 43),
    ]


def test_shutdown_without_waiting_leaves_a_running_job_to_its_thread(
    scheduler: BackgroundScheduler,
) -> None:
    """SIGTERM must not wait for a job sitting in an HTTP call (docs/agent.md: exit within 5 s)."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(WAIT)
        finished.set()

    now_job(scheduler, slow, "upload", executor="net")
    assert started.wait(WAIT)
    settled(scheduler)
    scheduler.shutdown(wait=False)
    assert not finished.is_set()  # shutdown returned while the job still runs
    release.set()
    assert finished.wait(WAIT)
