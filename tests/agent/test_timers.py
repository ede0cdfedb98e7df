"""The agent's timer interface, the same contract for APScheduler (production) and the fake the
runner's tests use: what is set is due when asked, replaced by id, and cancelled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from agent.timers import ApScheduler, Scheduler
from tests.agent.fakes import FakeScheduler
from tests.support.clock import FakeClock
from tests.support.waiting import wait_for

LATER = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def nothing() -> None:
    pass


@pytest.fixture(params=["apscheduler", "fake"])
def scheduler(request: pytest.FixtureRequest) -> Iterator[Scheduler]:
    made: Scheduler = (
        ApScheduler() if request.param == "apscheduler" else FakeScheduler(FakeClock(LATER))
    )
    made.start()
    yield made
    made.shutdown()


def test_a_job_is_due_when_set_and_replaced_by_its_id(scheduler: Scheduler) -> None:
    """``at`` sets a moment, the same id moves it, ``next_due`` is the earliest of all."""
    scheduler.at("config", LATER + timedelta(hours=2), nothing, executor="net", grace=None)
    scheduler.at("boundary", LATER + timedelta(hours=3), nothing, executor="default", grace=None)
    assert scheduler.due("config") == LATER + timedelta(hours=2)
    scheduler.at("config", LATER + timedelta(hours=4), nothing, executor="net", grace=None)
    assert scheduler.due("config") == LATER + timedelta(hours=4)
    assert scheduler.next_due() == LATER + timedelta(hours=3)


def test_a_cancelled_job_is_gone_and_cancelling_twice_is_harmless(scheduler: Scheduler) -> None:
    """``cancel`` removes a job; a job that is not there is no error."""
    scheduler.every("sample", 5, nothing, first=LATER + timedelta(hours=1), grace=5)
    assert scheduler.due("sample") == LATER + timedelta(hours=1)
    scheduler.cancel("sample")
    scheduler.cancel("sample")
    assert scheduler.due("sample") is None and scheduler.next_due() is None


def test_apscheduler_runs_a_job_set_for_a_moment_that_has_passed() -> None:
    """A job set for the past runs at once, as the runner's "soon" jobs rely on."""
    ran = threading.Event()
    timers = ApScheduler()
    timers.start()
    try:
        past = datetime.now(UTC) - timedelta(seconds=1)
        timers.at("replan", past, ran.set, executor="default", grace=None)
        assert ran.wait(10)
        # Shutting down while APScheduler's thread still removes the job it ran would make
        # that thread raise (its memory store empties on shutdown): wait until it is done.
        wait_for(lambda: timers.next_due() is None, timeout=10)
    finally:
        timers.shutdown()
