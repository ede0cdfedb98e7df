"""Loopback ports for servers that tests start as processes, and proof that the server is ours.

A port from ``free_port`` is free when it is chosen, not when the server binds it. Between the
two, another worker's server can take it, and then a health check is answered by that other
server: CI once saw an agent enrol at another test's collector, which did not know the code
("unknown, expired or used up"). So a test never trusts an answer on the port alone:
``start_listening`` returns only once the very process it started holds the listening socket
(read from ``/proc``), and starts the server again on a new port when the port was taken.

``/proc`` is read directly rather than through psutil: agent tests point psutil at a PID
namespace's ``/proc`` (``process_world``), where the collector's pid means another process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column
ATTEMPTS = 5


class ServerDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_sockets(port: int) -> set[str]:
    """``socket:[inode]`` of every socket listening on ``port`` in this network namespace."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(f"socket:[{inode}]")
    return found


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (a launcher may serve from a child)."""
    family, todo = [], [pid]
    while todo:
        current = todo.pop()
        family.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo.extend(int(child) for child in children.split())
        except OSError:
            continue
    return family


def holds_listener(pid: int, port: int) -> bool:
    """Whether ``pid`` (or a descendant) is the process listening on ``port``."""
    sockets = _listening_sockets(port)
    if not sockets:
        return False
    for member in _family(pid):
        try:
            fds = os.listdir(f"/proc/{member}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{member}/fd/{fd}") in sockets:
                    return True
            except OSError:
                continue
    return False


def wait_listening(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str], port: int, *, timeout: float
) -> bool:
    """True once ``proc`` listens on ``port``; False if it exited first (the port was taken,
    or it failed: the caller reads its log). Raises ``ServerDidNotStart`` on the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if holds_listener(proc.pid, port):
            return True
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            raise ServerDidNotStart(f"no listener on port {port} after {timeout:.0f} s")
        time.sleep(0.05)  # polling a real process until it listens, not waiting for time


def start_listening(
    start: Callable[[int], subprocess.Popen[bytes]],
    *,
    timeout: float,
    log: Callable[[], str],
) -> tuple[subprocess.Popen[bytes], int]:
    """``start(port)`` on fresh ports until the process itself listens on one.

    A process that exits with "address already in use" in ``log()`` lost a race for its port
    and is started again on another; any other exit is a failure with the log's tail.
    """
    for _ in range(ATTEMPTS):
        port = free_port()
        proc = start(port)
        if wait_listening(proc, port, timeout=timeout):
            return proc, port
        text = log()
        if "address already in use" not in text.lower():
            raise ServerDidNotStart(f"the server exited with {proc.returncode}: {text[-2000:]}")
    raise ServerDidNotStart(f"no free port in {ATTEMPTS} attempts")
