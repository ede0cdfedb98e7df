"""The one school day every fake clock in the suite starts from, and the clock itself.

Every fixed moment a test uses is derived from ``SCHOOL_DAY`` here, so the suite never depends
on the day it runs. A fake clock must never meet the real one: anything that signs, stamps or
checks a time on behalf of a test (the OIDC stand-in, a token, a cookie) takes this clock too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

# Tuesday 24 November 2026: a school week with lessons on every day, outside any holiday.
SCHOOL_DAY = date(2026, 11, 24)


def utc(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    """A moment on the school day (or ``days`` after it), in UTC."""
    return datetime.combine(SCHOOL_DAY + timedelta(days=days), time(hour, minute), tzinfo=UTC)


# 09:30 in Amsterdam: the collector tests' lesson of 50 minutes.
LESSON_START = utc(8, 30)
LESSON_END = LESSON_START + timedelta(minutes=50)
# 10:45 in Amsterdam: the demo school's "now", with a lesson in progress.
DEMO_NOW = utc(9, 45)
# The Monday before, at noon: the timetable store's "now", before the week's lessons.
TIMETABLE_NOW = utc(12, days=-1)


class FakeClock:
    """A clock the test moves by hand: a wall clock (``now``, ``wall()``) and a monotonic one.

    ``advance`` is time passing (both move); ``jump`` moves the wall clock alone, as a laptop's
    sleep and resume or someone setting the clock does (``agent.clock.Clock``).
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.mono = 1000.0
        # Seconds asleep as the OS counts them (Linux's CLOCK_BOOTTIME); None: an OS that does
        # not say, where a sleep and a clock set forward look alike.
        self.slept: float | None = None

    def __call__(self) -> datetime:
        return self.now

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        self.mono += delta.total_seconds()
        return self.now

    def suspended(self) -> float | None:
        return self.slept

    def jump(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def sleep(self, delta: timedelta) -> datetime:
        """The device sleeps for ``delta``: the wall clock moves, and so does the OS's count of
        time asleep where it keeps one; the monotonic clock stands still."""
        if self.slept is not None:
            self.slept += delta.total_seconds()
        return self.jump(delta)
