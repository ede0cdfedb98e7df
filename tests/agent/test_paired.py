"""Paired mode end to end: the real agent, its helper and the native host as the browser starts
it, against the real collector on loopback.

The browser is played by the test: it starts ``lessonwatch-agent native-host`` with the
extension's origin as its argument and speaks Chrome's native messaging framing on its stdin
and stdout, as the extension's ``connectNative`` port does.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main as agent_main
from agent.native_host import EXTENSION_ID, Frames
from agent.status import read_status
from tests.agent.conftest import REPO, AgentProcess, Processes
from tests.agent.real_collector import RealCollector, stored_summaries
from tests.agent.test_helper import fake_xprop
from tests.agent.test_real_collector import enrol, lesson_in, until
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
ORIGIN = f"chrome-extension://{EXTENSION_ID}/"
TITLE = "Instagram – Chromium"  # the browser window's title for the whole lesson


class Browser:
    """The browser's side of one native messaging port: the host process it started."""

    def __init__(self, address: Path, log: Path):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "native-host", "--socket", str(address), ORIGIN],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sink, env=env, cwd="/",
            )  # fmt: skip
        self.frames = Frames()
        self.heard: list[dict[str, Any]] = []
        os.set_blocking(self.proc.stdout.fileno(), False)  # type: ignore[union-attr]

    def read(self) -> list[dict[str, Any]]:
        """Everything the host has said so far."""
        assert self.proc.stdout is not None
        with contextlib.suppress(BlockingIOError, TypeError):
            data = os.read(self.proc.stdout.fileno(), 65536)
            self.heard += [json.loads(x) for x in self.frames.feed(data)]
        return self.heard

    def lesson_running(self) -> bool | None:
        told = [m["running"] for m in self.read() if m.get("type") == "lesson"]
        return told[-1] if told else None

    def focus(self, app: str | None) -> None:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        match = None if app is None else {"category": "social_media", "app": app}
        body = json.dumps({"v": 1, "type": "focus", "at": at, "match": match}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(struct.pack("=I", len(body)) + body)
        self.proc.stdin.flush()

    def close(self) -> int:
        """The browser closes the port: the host ends."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=10)
        self.read()
        self.proc.stdout.close()  # type: ignore[union-attr]
        return code


@pytest.fixture
def real(tmp_path: Path) -> Iterator[RealCollector]:
    collector = RealCollector(tmp_path / "collector")
    override = tmp_path / "titles.toml"
    # Titles on: the helper sees "Instagram" in the browser's title all lesson long, so the
    # precedence (the extension's tab over the title) decides what counts.
    override.write_text("version = 1\n[settings]\nwindow_title_probe = true\n")
    collector.cli("schools", "set", "--policy-override", str(override))
    yield collector
    collector.close()


def summaries(real: RealCollector, lesson_id: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(real.db)
    try:
        rows = db.execute(
            "SELECT summary FROM device_lesson_summaries WHERE lesson_id = ?", (lesson_id,)
        ).fetchall()
    finally:
        db.close()
    return [json.loads(row[0]) for row in rows]


def test_one_summary_per_lesson_includes_the_browsers_findings(
    real: RealCollector,
    tmp_path: Path,
    channel_dir: Path,
    processes: Processes,
    agent_process: Callable[..., AgentProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Instagram in the tab for the first half of the lesson, then null: one summary, one
    Instagram episode of about half the lesson (not the whole lesson the title would give, not
    twice), status says the extension is connected, and no title reaches the collector."""
    state = tmp_path / "state"
    enrol(real, state)
    lesson_id, start, end = lesson_in(real, 6, 10)
    address = channel_dir / "helper.sock"
    agent = agent_process(
        state, "--sample-seconds", "1", "--grace-seconds", "2", "--upload-delay-max", "0",
        "--helper-socket", str(address), "--helper-user", str(os.geteuid()),
    )  # fmt: skip
    wait_for(address.exists, timeout=15)
    window = processes.start("chromium")
    pupil = tmp_path / "pupil"
    pupil.mkdir()
    xprop = fake_xprop(tmp_path / "xbin", window.pid)
    props = tmp_path / "xbin" / "window.txt"
    props.write_text(props.read_text().replace("(2) WhatsApp – Chromium", TITLE))
    helper_log = tmp_path / "helper.log"
    env = {**os.environ, "HOME": str(pupil), "PYTHONPATH": str(REPO), **xprop}
    with helper_log.open("ab") as sink:
        helper = subprocess.Popen(
            [sys.executable, "-m", "agent", "helper", "--socket", str(address)],
            stdout=subprocess.DEVNULL, stderr=sink, env=env, cwd="/",
        )  # fmt: skip
    browser = Browser(address, tmp_path / "host.log")
    try:
        wait_for(lambda: browser.lesson_running() is False, timeout=15)
        assert browser.heard[0] == {"v": 1, "type": "hello", "agent": "0.1.0"}
        wait_for(lambda: "browser host of uid" in agent.output(), timeout=15)
        wait_for(lambda: browser.lesson_running() is True, timeout=20)
        browser.focus("instagram")
        status = read_status(state / "status.v1.json") or {}
        assert status.get("browser") == {"connected": 1, "dropped": 0}
        assert agent_main(["status", "--state-dir", str(state)]) == 0
        assert "browser extension: connected" in capsys.readouterr().out
        until(start + timedelta(seconds=5))
        browser.focus(None)
        until(start + timedelta(seconds=7))
        browser.focus("roblox")  # not in the policy's catalog: no finding, counted
        until(end + timedelta(seconds=0.5))
        wait_for(lambda: browser.lesson_running() is False, timeout=10)
        wait_for(lambda: len(stored_summaries(real, lesson_id)) == 1, timeout=30, interval=0.5)
        time.sleep(1.5)  # a second summary of the lesson would have arrived by now
        assert browser.close() == 0
    finally:
        helper.kill()
        helper.wait(timeout=10)
        if browser.proc.poll() is None:
            browser.proc.kill()
            browser.close()
    (body,) = summaries(real, lesson_id)
    found = {f["family"]: f for f in body["findings"]}
    assert set(found) == {"instagram"}
    instagram = found["instagram"]
    # The tab said Instagram for about 5 of the 10 s; the title said it for all 10.
    assert instagram["episodes"] == 1 and 3 <= instagram["seconds"] <= 7, instagram
    report = real.report(lesson_id)
    assert [(f["family"], f["devices"]) for f in report["families"]] == [("instagram", 1)]
    assert (read_status(state / "status.v1.json") or {})["browser"]["dropped"] == 1
    for private in (TITLE.encode(), b"Chromium", b"roblox"):
        assert private not in real.traffic()
        assert private not in real.database_bytes()
    assert agent.terminate() == 0
