"""The test servers' ports: a server is trusted only once the process started holds the port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port, holds_listener, start_listening

# A server in miniature: listens on the port it is given, or fails as uvicorn does when taken.
LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "s.listen()\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def taken() -> Iterator[int]:
    """A port this test process listens on: to everyone else, another worker's server."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield int(server.getsockname()[1])


def test_the_listener_is_told_apart_from_other_processes(taken: int) -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert holds_listener(idle.pid, taken) is False
    finally:
        idle.kill()
        idle.wait()
    assert holds_listener(os.getpid(), taken) is True
    assert holds_listener(os.getpid(), free_port()) is False


def test_a_port_taken_before_the_server_binds_is_given_up_for_another(
    taken: int, tmp_path: Path
) -> None:
    """The race CI met: the chosen port answers, but another server answers on it."""
    log = tmp_path / "server.log"
    ports: list[int] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        ports.append(taken if not ports else port)  # the first attempt loses the race
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-c", LISTENER, str(ports[-1])], stdout=out, stderr=out
            )

    proc, port = start_listening(start, timeout=30, log=lambda: log.read_text())
    try:
        assert ports[0] == taken
        assert port == ports[-1] != taken
        assert holds_listener(proc.pid, port)
        assert "Address already in use" in log.read_text()
    finally:
        proc.kill()
        proc.wait()
