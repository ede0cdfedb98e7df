"""The path of a report request through one collector process: its token checked (from the
cache, else in a look-up shared with the other requests waiting for one), then its batch stored
in a group commit. One ``Intake`` per app, made on first use.

Both database steps go through ``service.combiner``: a request that finds the database idle
starts the step at once; requests arriving meanwhile go together in the next transaction. Under
load the collector thus runs two transactions per round trip for all waiting requests instead
of two per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import State

from service.devices import registry as devices
from service.devices import token_cache
from service.devices.registry import ActiveDevice
from service.errors import Unauthorized
from service.ingest import group_commit
from service.ingest import summaries as ingest
from service.ingest.combiner import Combiner
from service.runtime import Runtime

# Summaries in one group transaction: enough that a group holds every single-summary request a
# busy process has waiting, small enough that one transaction stays short (a full batch of 500
# still goes alone, over the limit).
MAX_GROUP_SUMMARIES = 1000
# Tokens in one combined look-up (one IN list).
MAX_LOOKUP = 500


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
            self._write, max_weight=MAX_GROUP_SUMMARIES, weight=lambda b: max(len(b.items), 1)
        )

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

    def _write(self, batches: Sequence[Batch]) -> list[group_commit.Outcome]:
        # Parsed here, on the worker thread, not on the event loop: 500 items take ~20 ms.
        return group_commit.write_group(
            self.rt.engine,
            [ingest.parse_batch(b.device, b.items) for b in batches],
            clock=self.rt.clock,
            future_tolerance=self.rt.settings.future_tolerance,
            most_per_lesson=self.rt.settings.max_summaries_per_lesson,
        )


def for_app(state: State, rt: Runtime) -> Intake:
    """The app's intake, made on first use (on the event loop, so no two are made)."""
    intake: Intake | None = getattr(state, "intake", None)
    if intake is None:
        intake = state.intake = Intake(rt)
    return intake
