"""The path of a report request through one collector process: its token checked (from the
cache, else in a look-up shared with the other requests waiting for one), then its batch stored
in a group commit. One ``Intake`` per app, made on first use.

Both database steps go through ``service.combiner``: a request that finds the database idle
starts the step at the loop's next turn; requests arriving meanwhile go together in the next
transaction. Under load the collector thus runs two transactions per round trip for all waiting
requests instead of two per request. A small group of reports is stored from the event loop
itself: on SQLite when the database is free at that moment (``db.connect_now``), on PostgreSQL
on a non-blocking connection the loop drives (``pg_loop``); the worker thread's hand-over, a
wait for the GIL after every statement, cost more than the statements (docs/performance.md,
Ingestion). The worker thread takes what the loop cannot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import State

from service import db
from service.devices import registry as devices
from service.devices import token_cache
from service.devices.registry import ActiveDevice
from service.errors import Unauthorized
from service.ingest import group_commit
from service.ingest import summaries as ingest
from service.ingest.combiner import Combiner, Here
from service.ingest.pg_loop import LoopWriter
from service.ingest.pg_writer import PostgresWriter
from service.runtime import Runtime

log = logging.getLogger("lessonwatch.service")

# Summaries in one group transaction: enough that a group holds every single-summary request a
# busy process has waiting, small enough that one transaction stays short (a full batch of 500
# still goes alone, over the limit).
MAX_GROUP_SUMMARIES = 1000
# Tokens in one combined look-up (one IN list).
MAX_LOOKUP = 500
# Summaries in a group the event loop may store itself (on SQLite, when the database is free):
# a few milliseconds of the loop's time at most; larger groups go to a worker thread, which
# parses them there too (500 items take ~20 ms).
MAX_HERE_SUMMARIES = 64
# After groups stored on the event loop, SQLite's write-ahead log is checkpointed on a worker
# thread at most this often (the loop's commits skip the automatic checkpoint; db.connect_now).
CHECKPOINT_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class Batch:
    device: ActiveDevice
    items: Sequence[Any]


class Intake:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cache = token_cache.TokenCache(monotonic=rt.monotonic)
        token_cache.watch(self.cache)
        self.lookups: Combiner[str, ActiveDevice] = Combiner(self._look_up, max_weight=MAX_LOOKUP)
        self.writes: Combiner[Batch, list[ingest.ItemResult]] = Combiner(
            self._write,
            max_weight=MAX_GROUP_SUMMARIES,
            weight=lambda b: max(len(b.items), 1),
            here=self._here_for(rt.engine),
            here_weight=MAX_HERE_SUMMARIES,
        )
        # PostgreSQL: the groups' own connections, one the loop drives without waiting
        # (pg_loop), and the worker thread's for what the loop hands over (pg_writer).
        on_postgres = rt.engine.dialect.name == "postgresql"
        self.loop_writer = LoopWriter(rt.engine) if on_postgres else None
        self.writer = PostgresWriter(rt.engine) if on_postgres else None
        self._checkpoint_at: float | None = None  # when a checkpoint is due, if one is
        self._checkpointing = False

    async def device(self, token: str) -> ActiveDevice:
        """The active device behind ``token``; Unauthorized for anything else."""
        key = devices.token_key(token)
        return self.cache.get(key) or await self.lookups.submit(key)

    async def store(self, device: ActiveDevice, items: Sequence[Any]) -> list[ingest.ItemResult]:
        """The batch's results, once the transaction holding its rows has committed."""
        if not items:
            return []  # nothing to store: no transaction
        return await self.writes.submit(Batch(device, items))

    def _look_up(self, keys: Sequence[str]) -> list[ActiveDevice | BaseException]:
        generation = self.cache.generation()
        with self.rt.sessions.begin() as session:
            found = devices.active_devices(session, set(keys), self.rt.clock())
        for key, device in found.items():
            self.cache.put(key, device, generation=generation)
        return [found.get(key) or Unauthorized(devices.REVOKED) for key in keys]

    def _here_for(
        self, engine: Engine
    ) -> Callable[[Sequence[Batch]], Here[list[ingest.ItemResult]] | None] | None:
        """How the event loop may store a group itself: on SQLite when the database is free,
        on PostgreSQL without waiting on its own connection; elsewhere it may not."""
        if db.can_connect_now(engine):
            return self._write_here
        if engine.dialect.name == "postgresql":
            return self._write_from_loop
        return None

    def _write_from_loop(self, batches: Sequence[Batch]) -> asyncio.Future[Any] | None:
        """PostgreSQL: the group under way from the loop (``pg_loop``), or None."""
        assert self.loop_writer is not None
        return self.loop_writer.start(
            [ingest.parse_batch(b.device, b.items) for b in batches],
            now=self.rt.clock(),
            future_tolerance=self.rt.settings.future_tolerance,
            most_per_lesson=self.rt.settings.max_summaries_per_lesson,
        )

    def _write_here(self, batches: Sequence[Batch]) -> list[group_commit.Outcome] | None:
        """The group stored on the event loop, if the database lets its transaction start
        without waiting (SQLite's connection and write lock free; never on PostgreSQL, whose
        round trips would stop the loop); None hands it to ``_write`` on a worker thread, which
        also takes it after any error here (rolled back), with its handling of one bad batch."""
        try:
            with db.connect_now(self.rt.engine) as conn:
                if conn is None:
                    return None
                outcomes: list[group_commit.Outcome] = list(
                    ingest.store(
                        conn,
                        [ingest.parse_batch(b.device, b.items) for b in batches],
                        now=self.rt.clock(),
                        future_tolerance=self.rt.settings.future_tolerance,
                        most_per_lesson=self.rt.settings.max_summaries_per_lesson,
                    )
                )
        except Exception:
            return None
        self._after_write_here()
        return outcomes

    def _after_write_here(self) -> None:
        now = self.rt.monotonic()
        if self._checkpoint_at is None:
            self._checkpoint_at = now + CHECKPOINT_EVERY_SECONDS
        if now >= self._checkpoint_at and not self._checkpointing:
            self._checkpointing, self._checkpoint_at = True, None
            task = asyncio.ensure_future(anyio.to_thread.run_sync(db.checkpoint, self.rt.engine))
            task.add_done_callback(self._checkpointed)

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not done.cancelled() and (error := done.exception()) is not None:
            log.warning("checkpoint of the write-ahead log failed: %s", error)

    def _write(self, batches: Sequence[Batch]) -> list[group_commit.Outcome]:
        # Parsed here, on the worker thread, not on the event loop: 500 items take ~20 ms.
        return group_commit.write_group(
            self.rt.engine,
            [ingest.parse_batch(b.device, b.items) for b in batches],
            clock=self.rt.clock,
            future_tolerance=self.rt.settings.future_tolerance,
            most_per_lesson=self.rt.settings.max_summaries_per_lesson,
            writer=self.writer,
        )

    def close(self) -> None:
        if self.loop_writer is not None:
            self.loop_writer.close()
        if self.writer is not None:
            self.writer.close()


def for_app(state: State, rt: Runtime) -> Intake:
    """The app's intake, made on first use (on the event loop, so no two are made)."""
    intake: Intake | None = getattr(state, "intake", None)
    if intake is None:
        intake = state.intake = Intake(rt)
    return intake
