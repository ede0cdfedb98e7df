"""The agent's timers: a small interface of its own, and APScheduler behind it in production.

``agent.runner`` asks for a job at a moment (``at``), every few seconds (``every``), cancels
one, and asks when the next one is due (for its wall-clock wait, ``agent.waker``). Tests use a
fake that runs due jobs when a fake clock is moved (``tests/agent/fakes.py``), so nothing in a
test waits for real time to pass.

Every job is coalesced (a backlog runs once) with at most one instance and an explicit misfire
grace (``None``: however late, it still runs; the job itself looks at the time). Jobs that
touch the lesson state run on the ``default`` executor; HTTP runs on ``net`` so a slow
collector never delays a sample. All moments are device time, aware UTC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent.executor import ThreadExecutor

Executor = Literal["default", "net"]
Job = Callable[[], None]


class Scheduler(Protocol):
    def start(self) -> None: ...

    def shutdown(self) -> None:
        """Stop firing jobs; a job already running is not waited for."""
        ...

    def at(
        self, job_id: str, when: datetime, fn: Job, *, executor: Executor, grace: float | None
    ) -> None:
        """Run ``fn`` once at ``when`` (at once if it has passed), replacing a job of that id."""
        ...

    def every(
        self, job_id: str, seconds: float, fn: Job, *, first: datetime, grace: float | None
    ) -> None:
        """Run ``fn`` at ``first`` and every ``seconds`` after, replacing a job of that id."""
        ...

    def cancel(self, job_id: str) -> None:
        """Remove the job if it exists."""
        ...

    def due(self, job_id: str) -> datetime | None:
        """When the job runs next; None if there is no such job."""
        ...

    def next_due(self) -> datetime | None:
        """The earliest moment any job runs next; None if none is scheduled."""
        ...


def build_apscheduler() -> BackgroundScheduler:
    """The one place APScheduler is constructed: two single-thread executors, the job
    defaults every job gets. (Executors are where the agent's memory goes: docs/performance.md.)"""
    return BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadExecutor("jobs"), "net": ThreadExecutor("net")},
        job_defaults={"coalesce": True, "max_instances": 1},
    )


class ApScheduler:
    """``Scheduler`` on APScheduler's BackgroundScheduler (kept, as issue 15 asks)."""

    def __init__(self, build: Callable[[], BackgroundScheduler] = build_apscheduler) -> None:
        self._aps = build()

    def start(self) -> None:
        self._aps.start()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def at(
        self, job_id: str, when: datetime, fn: Job, *, executor: Executor, grace: float | None
    ) -> None:
        self._aps.add_job(
            fn,
            DateTrigger(when),
            id=job_id,
            replace_existing=True,
            executor=executor,
            misfire_grace_time=None if grace is None else max(1, int(grace)),
        )

    def every(
        self, job_id: str, seconds: float, fn: Job, *, first: datetime, grace: float | None
    ) -> None:
        self._aps.add_job(
            fn,
            IntervalTrigger(seconds=seconds),
            id=job_id,
            replace_existing=True,
            executor="default",
            misfire_grace_time=None if grace is None else max(1, int(grace)),
            next_run_time=first,
        )

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):  # none, or a date job that has just run
            self._aps.remove_job(job_id)

    def due(self, job_id: str) -> datetime | None:
        job = self._aps.get_job(job_id)
        # A job added before start() is pending: it has no next run time yet.
        return None if job is None else getattr(job, "next_run_time", None)

    def next_due(self) -> datetime | None:
        times = [t for job in self._aps.get_jobs() if (t := getattr(job, "next_run_time", None))]
        return min(times) if times else None


__all__ = ["ApScheduler", "Executor", "Job", "Scheduler", "build_apscheduler"]
