"""A process world of its own for each test: a PID namespace with its own ``/proc``.

An agent lists every process on its machine, so a "Discord" started by one test would show up
in the lesson of another test running at the same time on another worker. Each test that starts
processes under app names therefore gets a private PID namespace (``unshare``, as root): the
fake apps and the agent processes are started inside it and see only each other, and an agent
running inside the test process reads the namespace's ``/proc`` through psutil's documented
``PROCFS_PATH`` setting. They are real processes all the same: direct children of the test,
so ``kill``, ``wait`` and exit codes work as ever, and the loopback network is shared.

Where namespaces are not available (not root, no ``unshare``) those tests run one after another
on one worker instead (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, kind: int) -> None:
    if _libc.setns(fd, kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


class ProcessWorld:
    """A PID namespace held open by ``unshare ... sleep``; its processes die with it."""

    def __init__(self) -> None:
        self._holder = subprocess.Popen(
            ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child",
             "sleep", "infinity"],
        )  # fmt: skip
        self.init_pid = self._namespace_init()
        self._pid_ns = os.open(f"/proc/{self.init_pid}/ns/pid", os.O_RDONLY)
        self._mnt_ns = os.open(f"/proc/{self.init_pid}/ns/mnt", os.O_RDONLY)
        self._own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY)

    def _namespace_init(self) -> int:
        children = Path(f"/proc/{self._holder.pid}/task/{self._holder.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                pids = children.read_text().split()
                if pids:
                    init = int(pids[0])
                    # Ready once /proc inside is the namespace's own (its init is pid 1 there).
                    if Path(f"/proc/{init}/root/proc/1/comm").read_text().strip() == "sleep":
                        return init
            if self._holder.poll() is not None:
                break
            time.sleep(0.01)
        self._holder.kill()
        raise RuntimeError("unshare did not start a PID namespace")

    @property
    def proc_root(self) -> str:
        """The namespace's ``/proc``, seen from outside it."""
        return f"/proc/{self.init_pid}/root/proc"

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen`` with the child born inside the namespace, /proc and all.

        The calling thread joins the namespace for its children only (setns with CLONE_NEWPID
        moves no running process) for the one fork, and leaves it at once; the child then joins
        the namespace's mounts before it executes.
        """
        mnt_ns = self._mnt_ns
        _setns(self._pid_ns, CLONE_NEWPID)
        try:
            return subprocess.Popen(args, preexec_fn=lambda: _setns(mnt_ns, CLONE_NEWNS), **kwargs)
        finally:
            _setns(self._own_pid_ns, CLONE_NEWPID)

    def close(self) -> None:
        self._holder.kill()  # --kill-child: the namespace's init, and with it everything inside
        self._holder.wait(timeout=10)
        for fd in (self._pid_ns, self._mnt_ns, self._own_pid_ns):
            os.close(fd)


@functools.cache
def available() -> bool:
    """Whether this machine lets the tests make process worlds (root with ``unshare``)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        world = ProcessWorld()
    except (OSError, RuntimeError):
        return False
    try:
        probe = world.popen(["true"])
        return probe.wait(timeout=10) == 0
    except OSError:
        return False
    finally:
        world.close()
