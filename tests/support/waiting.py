"""Waiting on a condition instead of a fixed sleep: poll it until true, fail at the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable


def wait_for(
    predicate: Callable[[], object],
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "",
) -> None:
    """Poll until ``predicate()`` is true; fail the test at the deadline, naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what or 'condition'} not met within {timeout} s: {predicate}")


@contextlib.asynccontextmanager
async def loop_ticks(every: float = 0.01) -> AsyncIterator[list[int]]:
    """How often a ticker on the running event loop ran while the block did (``[count]``): a
    loop that waited on something (a lock, a socket) in the block's work shows few ticks."""
    ticks = [0]

    async def tick() -> None:
        while True:
            ticks[0] += 1
            await asyncio.sleep(every)

    ticker = asyncio.ensure_future(tick())
    try:
        yield ticks
    finally:
        ticker.cancel()
