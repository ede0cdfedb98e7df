"""`run --enroll-file`: an installed agent enrols itself on first start, and a cloned image
enrols anew instead of sharing the original device's identity."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import AgentProcess, move_to_another_machine
from tests.agent.standin import Standin
from tests.support.waiting import wait_for


def enroll_file(tmp_path: Path, collector: Standin, **extra: str) -> Path:
    path = tmp_path / "enroll.conf"
    lines = [f'server = "{collector.url}"', f'code = "{collector.enrolment_code("3B")}"']
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def device_id(state_dir: Path) -> str:
    return str(json.loads((state_dir / "identity.v1.json").read_text())["device_id"])


def test_first_start_enrols_from_the_file(
    tmp_path: Path,
    collector: Standin,
    state_dir: Path,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """Not enrolled yet and a file from the deploy tool: the agent enrols and keeps running."""
    conf = enroll_file(tmp_path, collector, label="LAPTOP-7")
    agent = agent_process(state_dir, "--enroll-file", str(conf))
    wait_for(lambda: (state_dir / "identity.v1.json").exists())
    # Logged once the signal handlers are in place (the agent is fully started).
    wait_for(lambda: ", state in " in agent.output())
    assert agent.proc.poll() is None, agent.output()
    assert "enrolled from" in agent.output()
    assert agent.terminate() == 0
    assert device_id(state_dir).startswith("d_")
    assert json.loads((state_dir / "identity.v1.json").read_text())["label"] == "LAPTOP-7"


def test_enrolled_device_ignores_the_file(
    tmp_path: Path,
    collector: Standin,
    enrolled: Path,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """An enrolled device keeps its identity; the file's code is not spent again."""
    before = device_id(enrolled)
    conf = enroll_file(tmp_path, collector)
    agent = agent_process(enrolled, "--enroll-file", str(conf))
    wait_for(lambda: "device " + before in agent.output())
    assert agent.terminate() == 0
    assert device_id(enrolled) == before
    assert "enrolled from" not in agent.output()


def test_cloned_state_is_moved_aside_and_the_clone_enrols_anew(
    tmp_path: Path,
    collector: Standin,
    enrolled: Path,
    agent_process: Callable[..., AgentProcess],
) -> None:
    """State made on another machine is kept aside, never reused: the clone gets its own id."""
    original = device_id(enrolled)
    move_to_another_machine(enrolled)
    conf = enroll_file(tmp_path, collector)
    agent = agent_process(enrolled, "--enroll-file", str(conf))
    wait_for(lambda: ", state in " in agent.output())
    assert "enrolled from" in agent.output()
    assert agent.terminate() == 0
    assert device_id(enrolled) != original
    [aside] = list(enrolled.glob("cloned-*"))
    assert json.loads((aside / "identity.v1.json").read_text())["device_id"] == original
    assert "moved to" in agent.output()


def test_broken_enrolment_file_is_a_fatal_error_with_its_name(
    tmp_path: Path, state_dir: Path, agent_process: Callable[..., AgentProcess]
) -> None:
    """A file without a code exits non-zero and says which file is wrong."""
    conf = tmp_path / "enroll.conf"
    conf.write_text('server = "http://127.0.0.1:9"\n', encoding="utf-8")
    agent = agent_process(state_dir, "--enroll-file", str(conf))
    assert agent.proc.wait(timeout=30) == 1
    assert f"enrolment file {conf} needs server" in agent.output()


def test_without_a_label_the_device_is_known_by_its_id_alone_and_no_name_leaves_it(
    tmp_path: Path,
    collector: Standin,
    state_dir: Path,
) -> None:
    """A laptop named after its pupil, enrolled from a file without a label: neither the host
    name nor the user name is in any byte the collector receives (the agent runs in a UTS
    namespace of its own with that host name, as root)."""
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("setting a host name for one process needs root (CI runs as root)")
    host = "jan-jansen-laptop"

    def as_pupils_laptop(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *args]
        return subprocess.Popen(named, **kwargs)  # exec: the agent keeps the pid

    conf = enroll_file(tmp_path, collector)
    agent = AgentProcess(
        state_dir, tmp_path / "agent.log", "--enroll-file", str(conf), spawn=as_pupils_laptop
    )
    try:
        wait_for(lambda: ", state in " in agent.output())
        assert "enrolled from" in agent.output()
        assert agent.terminate() == 0
    finally:
        if agent.proc.poll() is None:
            agent.kill()
    assert json.loads((state_dir / "identity.v1.json").read_text()).get("label") is None
    sent = collector.traffic()
    assert b"/api/v1/agent/enroll" in sent
    for name in (host, getpass.getuser()):
        assert name.encode() not in sent, name
