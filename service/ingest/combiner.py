"""Concurrent requests' jobs run together, one group at a time, without a thread of its own.

A request coroutine hands its job to ``Combiner.submit`` and waits. When no group is running,
that request starts one at once with every job pending (its own included), on a worker thread
of the server's pool; while it runs, later jobs queue up, and the moment it ends the next group
starts with all of them. Nothing waits on a timer: under light load a group is one job; under
load a group holds what arrived during the previous group's round trip to the database. This is
group commit as databases do it for their own log, applied to the collector's transactions.

With ``here``, a group starts at the event loop's next turn instead (by then the requests whose
bytes arrived together have all reached ``submit``), and one of at most ``here_weight`` is first
offered to the loop itself: ``here`` runs it at once if it can do so without waiting (on
SQLite: the connection and the write lock free) and returns its outcomes, or starts it and
returns a future of them (PostgreSQL, whose answers the loop waits for as for any socket), or
returns None (also as the future's result) and the group goes to the worker thread. On a busy
collector a small group costs the loop less than handing it over (a thread's turn, the GIL
passed back and forth at every statement; docs/performance.md, Ingestion).

``run`` gets the jobs and returns one outcome per job, in order: a result, or the exception that
job's caller should see. Groups hold at most ``max_weight`` (the sum of ``weight(job)``), so a
few large batches cannot make one transaction unbounded. The group's outcome is handed out from
a done-callback on the event loop, so a caller that is cancelled (a client that hung up) cannot
strand the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio.to_thread

J = TypeVar("J")
R = TypeVar("R")

# What ``here`` gives: the outcomes at once, or a future of them (a sequence as ``run`` gives,
# or None: the worker thread takes the group after all).
Here = Sequence[R | BaseException] | asyncio.Future[Any]


class Combiner(Generic[J, R]):
    def __init__(
        self,
        run: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        max_weight: int,
        weight: Callable[[J], int] = lambda _job: 1,
        here: Callable[[Sequence[J]], Here[R] | None] | None = None,
        here_weight: int = 0,
    ) -> None:
        self._run = run
        self._max_weight = max_weight
        self._weight = weight
        self._here = here
        self._here_weight = here_weight
        self._pending: deque[tuple[J, asyncio.Future[R]]] = deque()
        # The group under way: the worker thread's, or one the loop started itself (``here``).
        self._running: asyncio.Future[Any] | None = None
        self._scheduled = False  # a group's start waits for the loop's next turn
        self.groups = 0  # groups run and jobs in them, for tests and the benchmark
        self.jobs = 0
        self.groups_here = 0  # of them, run on the event loop

    @property
    def waiting(self) -> int:
        """Jobs queued for the next group."""
        return len(self._pending)

    async def submit(self, job: J) -> R:
        """The job's outcome, once the group holding it has finished."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((job, future))
        if self._running is None:
            self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._here is None:
            # A worker thread's group starts at once: the thread works while the loop reads
            # the next requests (waiting a turn left it idle for a turn per group).
            self._start()
        elif not self._scheduled:
            # A group the loop may run itself waits for the loop's next turn, by which time
            # the requests read together have all reached ``submit``.
            self._scheduled = True
            loop.call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        # A job whose caller is gone (cancelled while it queued) is dropped unrun: nobody would
        # see its outcome, and for a report batch the agent retries what was not acknowledged.
        while self._pending and self._pending[0][1].done():
            self._pending.popleft()
        if not self._pending:
            return
        group = [self._pending.popleft()]
        weight = self._weight(group[0][0])
        while self._pending and weight + self._weight(self._pending[0][0]) <= self._max_weight:
            job, future = self._pending.popleft()
            if not future.done():
                weight += self._weight(job)
                group.append((job, future))
        self.groups += 1
        self.jobs += len(group)
        jobs = [job for job, _ in group]
        if self._here is not None and weight <= self._here_weight:
            outcomes = self._here(jobs)
            if isinstance(outcomes, asyncio.Future):
                self._running = outcomes
                outcomes.add_done_callback(lambda done: self._here_done(group, done))
                return
            if outcomes is not None:
                self.groups_here += 1
                self._hand_out(group, outcomes)
                if self._pending:
                    self._schedule(asyncio.get_running_loop())
                return
        self._on_thread(group)

    def _on_thread(self, group: list[tuple[J, asyncio.Future[R]]]) -> None:
        jobs = [job for job, _ in group]
        # Kept referenced while it runs: the event loop holds only weak references to tasks.
        self._running = asyncio.ensure_future(anyio.to_thread.run_sync(self._run, jobs))
        self._running.add_done_callback(lambda done: self._finish(group, done))

    def _here_done(
        self,
        group: list[tuple[J, asyncio.Future[R]]],
        done: asyncio.Future[Any],
    ) -> None:
        """A group the loop started itself has ended: handed out, or given to the thread."""
        if done.cancelled() or done.exception() is not None or done.result() is None:
            self._on_thread(group)
            return
        self.groups_here += 1
        self._finish(group, done)

    def _finish(
        self,
        group: list[tuple[J, asyncio.Future[R]]],
        done: asyncio.Future[Any],
    ) -> None:
        self._running = None
        outcomes: Sequence[R | BaseException]
        if done.cancelled():
            outcomes = [asyncio.CancelledError()] * len(group)
        elif (error := done.exception()) is not None:
            outcomes = [error] * len(group)
        else:
            outcomes = done.result()
        self._hand_out(group, outcomes)
        if self._pending:
            self._schedule(asyncio.get_running_loop())

    @staticmethod
    def _hand_out(
        group: list[tuple[J, asyncio.Future[R]]], outcomes: Sequence[R | BaseException]
    ) -> None:
        if len(outcomes) != len(group):
            outcomes = [RuntimeError("the group gave a wrong number of outcomes")] * len(group)
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
