"""Each contact in a short-lived process: what the running agent gets back, whatever the child
does, and what the child's process shows to other local users. (The answers themselves, from a
real HTTP collector, are in test_client.py, run with both links.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

import agent.remote
from agent.errors import CollectorError
from agent.link import Unreachable
from agent.remote import RemoteCollector, _outcome
from tests.support.waiting import wait_for


@pytest.mark.parametrize(
    ("returncode", "raw", "raised", "message"),
    [
        (1, b"", Unreachable, "status 1 and no outcome"),  # crashed before writing
        (-9, b'{"kind": "ok"', Unreachable, "status -9"),  # killed while writing
        (0, b"[1, 2]", Unreachable, "no outcome"),
        (0, b'{"kind": "maybe"}', Unreachable, "no outcome"),
        (0, b'{"kind": "unreachable", "message": "refused"}', Unreachable, "refused"),
        (0, b'{"kind": "error", "message": "no", "status": 403}', CollectorError, "no"),
    ],
)
def test_a_child_that_fails_is_a_clear_error(
    returncode: int, raw: bytes, raised: type[Exception], message: str
) -> None:
    with pytest.raises(raised, match=message):
        _outcome(returncode, raw)


def test_a_collector_error_keeps_its_status_and_code() -> None:
    raw = b'{"kind": "error", "message": "gone", "status": 410, "code": "device_removed"}'
    with pytest.raises(CollectorError) as caught:
        _outcome(0, raw)
    assert (caught.value.status, caught.value.code) == (410, "device_removed")


@pytest.mark.parametrize(
    ("request_text", "message"),
    [
        ("not json", "not a JSON object"),
        ('{"op": "delete_everything", "args": {}, "server": "http://127.0.0.1:9"}', "unknown"),
        ('{"op": "config", "args": {"etag": null}, "server": "http://example.org"}', "https"),
    ],
)
def test_the_child_refuses_what_is_not_a_request(request_text: str, message: str) -> None:
    """Run as the agent runs it; nothing is sent for a refused request (no network here)."""
    done = subprocess.run(
        [sys.executable, "-m", "agent.remote"],
        input=request_text.encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    outcome = json.loads(done.stdout)
    assert outcome["kind"] == "error" and message in outcome["message"]


@dataclass
class Silent:
    url: str
    release: threading.Event  # set: hang up on every connection and accept no more
    accepted: threading.Event  # a connection is being held


@pytest.fixture
def silent_server() -> Iterator[Silent]:
    """Accepts connections and never answers, until ``release`` is set."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = Silent(
        f"http://127.0.0.1:{listener.getsockname()[1]}", threading.Event(), threading.Event()
    )
    release = server.release
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not release.is_set():
            try:
                held.append(listener.accept()[0])
                server.accepted.set()
            except TimeoutError:
                continue
        for conn in held:
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server
    release.set()
    thread.join()
    listener.close()


def test_the_token_is_never_in_the_childs_command_line(silent_server: Silent) -> None:
    """Other local users can read a process's arguments; the token goes over stdin."""
    url, release = silent_server.url, silent_server.release
    token = "secret-device-token-4711"
    outcome: list[Any] = []
    caller = threading.Thread(
        target=lambda: outcome.append(_try(lambda: RemoteCollector(url, token).config(None)))
    )
    caller.start()
    me = psutil.Process()
    seen: list[list[str]] = []

    def child_seen() -> bool:  # the child is waiting for the silent server's answer meanwhile
        seen[:] = [child.cmdline() for child in me.children()]
        return any("agent.remote" in arg for line in seen for arg in line)

    wait_for(child_seen, timeout=20, what="the child process")
    # Hang up only once the child's connection is held: a connection made after the server
    # stopped accepting would wait out requests' 15 s read timeout instead.
    assert silent_server.accepted.wait(timeout=30)
    release.set()
    caller.join(timeout=60)
    assert [sys.executable, "-m", "agent.remote"] in seen
    assert all(token not in arg for line in seen for arg in line)
    assert isinstance(outcome[0], Unreachable)  # the server closed without answering


def test_a_child_past_its_deadline_is_killed_and_counts_as_unreachable(
    silent_server: Silent, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = silent_server.url
    monkeypatch.setattr(agent.remote, "DEADLINE", 2.0)
    with pytest.raises(Unreachable, match="no outcome within 2 s"):
        RemoteCollector(url, "token").config(None)
    assert not psutil.Process().children()  # killed, not left behind


def _try(call: Any) -> Any:
    try:
        return call()
    except Exception as exc:
        return exc


def _capabilities(status: str) -> dict[str, int]:
    return {
        line.split(":")[0]: int(line.split()[1], 16)
        for line in status.splitlines()
        if line.startswith(("CapInh", "CapPrm", "CapEff", "CapAmb"))
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux capabilities")
def test_the_child_gives_up_every_capability_before_it_talks_to_the_network() -> None:
    """The service holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (and the tests run as root);
    the process that parses the network's answers holds nothing."""
    code = (
        "import sys\n"
        "from agent.remote import drop_capabilities\n"
        "before = open('/proc/self/status').read()\n"
        "dropped = drop_capabilities()\n"
        "after = open('/proc/self/status').read()\n"
        "print(dropped, before, '\\n---\\n', after)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    dropped, _, rest = done.stdout.partition(" ")
    before_text, _, after_text = rest.partition("\n---\n")
    assert dropped == "True"
    assert all(value == 0 for value in _capabilities(after_text).values())
    if os.geteuid() == 0:  # as root the child started with capabilities to lose
        assert _capabilities(before_text)["CapEff"] != 0
