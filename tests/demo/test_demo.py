"""The README's main command: the demo school served, with a local agent monitoring for real."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.ports import free_port, holds_listener

BIN = Path(sys.executable).parent
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.mark.slow
def test_demo_serves_a_populated_report_and_a_monitoring_local_agent(tmp_path: Path) -> None:
    """`lessonwatch-service demo` prints the report URL, the teacher can read a populated
    report there, and the local agent is enrolled in 3B and monitoring the lesson now."""
    port = free_port()
    demo = subprocess.Popen(
        [str(BIN / "lessonwatch-service"), "demo", "--dir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        assert demo.stdout is not None
        while not any(line.startswith("Press Ctrl-C") for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            line = demo.stdout.readline()
            assert line or demo.poll() is None, "".join(lines)
            lines.append(line)
        output = "".join(lines)
        report_url = re.search(r"lesson report:\s+(\S+)", output)
        password = re.search(r"devries / (\S+)", output)
        assert report_url and password, output
        assert "local agent: enrolled: device d_" in output
        # The answers below come from this demo, not from another worker's server that took
        # the port between choosing and binding it (tests/support/ports.py).
        assert holds_listener(demo.pid, port), output

        http = requests.Session()
        page = http.get(f"http://127.0.0.1:{port}/signin", timeout=10)
        token = CSRF.search(page.text)
        assert token
        signed = http.post(
            f"http://127.0.0.1:{port}/signin",
            data={"username": "devries", "password": password.group(1), "csrf": token.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert signed.status_code == 303, signed.text
        report = http.get(report_url.group(1), headers={"Accept": "application/json"}, timeout=10)
        assert report.status_code == 200, report.text
        data = report.json()
        # 24 seeded devices plus the local agent just enrolled in 3B.
        assert data["devices_expected"] == 25
        assert data["devices_reporting"] > 0
        assert data["categories"], "the in-progress lesson's report is populated"
        # The showcase (service/demo/showcase.py) is in the demo: devries's own group chat.
        chats = http.get(
            f"http://127.0.0.1:{port}/groupchats",
            headers={"Accept": "application/json"},
            timeout=10,
        ).json()["chats"]
        assert [(c["group"], c["platform"]) for c in chats] == [("3B", "whatsapp")]

        # The agent was started just before the demo said so; its first config fetch (which
        # brings the lesson) takes a moment, longer on a loaded machine: wait for it, bounded.
        lesson_id = report_url.group(1).rsplit("/", 1)[1]
        deadline = time.monotonic() + 30
        while True:
            status = subprocess.run(
                [str(BIN / "lessonwatch-agent"), "status", "--json", "--state-dir",
                 str(tmp_path / "agent")],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            if lesson_id in status.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        state = json.loads(status.stdout)
        assert state["enrolled"] is True
        assert lesson_id in status.stdout
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=30)
        if demo.stdout is not None:
            demo.stdout.close()
    assert code == 0
