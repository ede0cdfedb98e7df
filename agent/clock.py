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


class SystemClock:
    def wall(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
