"""Waiting on the wall clock: due on time, at once when overdue, promptly on stop."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from agent.waker import Waker


@pytest.fixture
def waker():
    w = Waker()
    yield w
    w.close()


def test_linux_uses_a_wall_clock_timer(waker: Waker) -> None:
    """On Linux the wait is a CLOCK_REALTIME timerfd that survives sleep and clock changes."""
    assert waker.exact is sys.platform.startswith("linux")


def test_due_at_the_wall_clock_moment(waker: Waker) -> None:
    """A wait ends when the wall clock reaches the moment, not before."""
    target = time.time() + 0.3
    assert waker.wait_until(target) == "due"
    assert time.time() >= target


def test_overdue_moment_returns_at_once(waker: Waker) -> None:
    """A moment already passed (as after a resume) wakes immediately."""
    began = time.monotonic()
    assert waker.wait_until(time.time() - 3600) == "due"
    assert time.monotonic() - began < 1


def test_stop_wakes_a_long_wait(waker: Waker) -> None:
    """stop() from another thread (the signal handler) ends an hour-long wait at once."""
    threading.Timer(0.2, waker.stop).start()
    began = time.monotonic()
    assert waker.wait_until(time.time() + 3600) == "stop"
    assert time.monotonic() - began < 5
    assert waker.wait_until(time.time() + 3600) == "stop"
