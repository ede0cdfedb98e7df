"""Sleeping until a wall-clock moment, and waking early when the clock jumps or on stop.

Python's waits (``Event.wait``, ``time.sleep``) run on the monotonic clock, which stands still
while a laptop sleeps: a wait for a lesson at 10:00 that began at 09:00 would end at 10:00 plus
however long the lid was closed. On Linux a ``timerfd`` on ``CLOCK_REALTIME`` with an absolute
expiry fires at resume when the moment has passed, and ``TFD_TIMER_CANCEL_ON_SET`` wakes it when
someone sets the clock. Elsewhere the wait is cut into slices of at most ``FALLBACK_SLICE``
seconds so a missed moment is noticed that much later at worst.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import sys
import threading
import time
from typing import Literal

Woke = Literal["due", "clock", "stop"]
FALLBACK_SLICE = 60.0

_CLOCK_REALTIME = 0
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
_TFD_TIMER_CANCEL_ON_SET = 2


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class Waker:
    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._read, self._write = os.pipe()
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.timerfd_create(_CLOCK_REALTIME, _TFD_CLOEXEC)
                if fd >= 0:
                    self._libc, self._fd = libc, fd
            except (OSError, AttributeError):
                pass

    @property
    def exact(self) -> bool:
        """True when waits follow the wall clock through sleep and clock changes."""
        return self._fd >= 0

    def stop(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            os.write(self._write, b"x")

    def close(self) -> None:
        for fd in (self._read, self._write, self._fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def wait_until(self, wall: float) -> Woke:
        """Block until the wall-clock time ``wall`` (UNIX seconds), a clock jump, or ``stop()``."""
        if self.stopped.is_set():
            return "stop"
        if self._fd < 0:
            timeout = min(max(0.0, wall - time.time()), FALLBACK_SLICE)
            if self.stopped.wait(timeout):
                return "stop"
            return "due" if time.time() >= wall else "clock"
        spec = _Itimerspec()
        spec.it_value.tv_sec = int(wall)
        spec.it_value.tv_nsec = int((wall - int(wall)) * 1e9)
        flags = _TFD_TIMER_ABSTIME | _TFD_TIMER_CANCEL_ON_SET
        assert self._libc is not None
        if self._libc.timerfd_settime(self._fd, flags, ctypes.byref(spec), None) != 0:
            return "clock"  # a clock change between computing ``wall`` and arming: re-plan
        ready, _, _ = select.select([self._fd, self._read], [], [])
        if self._read in ready or self.stopped.is_set():
            return "stop"
        try:
            os.read(self._fd, 8)
        except OSError as exc:
            if exc.errno == errno.ECANCELED:
                return "clock"
            raise
        return "due"
