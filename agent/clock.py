"""The two clocks the running agent reads, behind one seam so tests can move them by hand.

The wall clock says which lesson it is (it is what the timetable and the collector use); the
monotonic clock never jumps, so comparing how far each moved tells sleep and resume or a clock
someone set apart from time passing (``schedule.clock_jumped``). Only ``SystemClock`` reads the
real clocks; ``agent.runner`` reads time only through a ``Clock`` it is given.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> datetime:
        """The device's wall-clock time, an aware UTC datetime (may jump: sleep, clock set)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps and stands still while the device sleeps."""
        ...

    def suspended(self) -> float | None:
        """Seconds the device has slept since it started, where the OS says (None elsewhere):
        with it, a wall clock set forward is told apart from a sleep."""
        ...


class SystemClock:
    def wall(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def suspended(self) -> float | None:
        # Linux: CLOCK_BOOTTIME counts time asleep, CLOCK_MONOTONIC (time.monotonic) does not.
        # Elsewhere this is not measured, and a clock set forward looks like a sleep.
        boottime = getattr(time, "CLOCK_BOOTTIME", None)
        if boottime is None:
            return None
        return time.clock_gettime(boottime) - time.clock_gettime(time.CLOCK_MONOTONIC)
