"""Waiting on a condition instead of a fixed sleep: poll it until true, fail at the deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


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
