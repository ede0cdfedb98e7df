"""An APScheduler executor that runs its jobs one after another on one thread of its own.

The agent had two ``ThreadPoolExecutor(1)`` (one for the lesson's jobs, one for HTTP). That
executor wraps ``concurrent.futures``, whose module for the pool's other half, the process
pool, imports ``multiprocessing`` (docs/performance.md, "Agent"). One worker thread and a
queue do the same work: jobs run in the order they were submitted, one at a time, and what
each job returns or raises goes back to the scheduler as the pool's done-callback did.
"""

from __future__ import annotations

import queue
import threading
from datetime import datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job

_STOP = None  # put on the queue by ``shutdown``: the worker ends after the jobs before it


class ThreadExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler 3 has no type information
    """One worker thread, started with the first job; ``shutdown(wait=False)`` leaves it to
    finish the job it is in (a job may sit in an HTTP call; SIGTERM must not wait for it)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Any, list[datetime]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._queue.put((job, run_times))
        with self._start_lock:
            if self._thread is None:
                # Daemon, as concurrent.futures' workers are not joined at exit either: the
                # agent leaves with os._exit once everything that matters is committed.
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            job, run_times = item
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:  # run_job catches the job's own errors; this is its own
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

    def shutdown(self, wait: bool = True) -> None:
        self._queue.put(_STOP)
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()
