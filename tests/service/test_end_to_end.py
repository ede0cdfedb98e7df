"""End to end: the real CLI as a subprocess, the collector served by uvicorn in its own
process on a free loopback port, and agents speaking HTTP with ``requests``, on both backends.

Each command is started as a real process once, on SQLite; its repeats, and the commands of the
PostgreSQL run, call the same ``main()`` in the test's process. The process itself (entry
point, arguments, stdin, exit code) does not depend on the backend, and each start costs about
0.8 CPU-s of imports; the collector is served from a process of its own on both backends.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from service.cli.main import main
from tests.support.collector import finding, summary
from tests.support.ports import start_listening

TIMEOUT = 10
SCRIPT = Path(sys.executable).with_name("lessonwatch-service")


def in_a_process(db_url: str, *args: str, stdin: str | None = None) -> str:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "service"]
    done = subprocess.run(
        [*command, *args, "--db", db_url],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class Cli:
    """The test's commands: ``cli(...)`` a real process where ``processes`` (else as
    ``again``), ``cli.again(...)`` the same ``main()`` in this process."""

    def __init__(
        self,
        db_url: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        *,
        processes: bool,
    ) -> None:
        self.db_url, self.capsys, self.monkeypatch = db_url, capsys, monkeypatch
        self.processes = processes

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        if self.processes:
            return in_a_process(self.db_url, *args, stdin=stdin)
        return self.again(*args, stdin=stdin)

    def again(self, *args: str, stdin: str | None = None) -> str:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
        self.capsys.readouterr()
        code = main([*args, "--db", self.db_url])
        out, err = self.capsys.readouterr()
        assert code == 0, err
        return out.strip()


@contextmanager
def serving(db_url: str) -> Iterator[str]:
    """The collector as a subprocess, stopped with SIGTERM as a supervisor would."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "service"]
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)

    def start(port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db_url],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "LESSONWATCH_PURGE_INTERVAL_SECONDS": "0"},
        )

    def log_text() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")

    try:
        proc, port = start_listening(start, timeout=60, log=log_text)
    except BaseException:
        log.close()
        raise
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.slow
def test_collector_end_to_end(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLI sets up, agents enrol, fetch config (then 304), send a batch twice; counts are right."""
    cli = Cli(db_url, capsys, monkeypatch, processes=db_url.startswith("sqlite"))
    now = datetime.now(UTC).replace(microsecond=0)
    # The agents enrol before the lesson begins: devices enrolled during a lesson do not count
    # in its report (one device, one voice; docs/web.md).
    start, end = now + timedelta(minutes=5), now + timedelta(minutes=55)
    # Every count here is of one to three devices: the school shows them all (threshold 1), so
    # the numbers can be checked exactly; the default threshold is checked at the end.
    assert cli("schools", "add", "School") == "School"
    cli("schools", "set", "--small-count-threshold", "1")
    cli("users", "add", "--username", "head", "--role", "admin", stdin="long enough pw\n")
    token = cli("tokens", "create", "--username", "head")
    assert token.startswith("lwu_")
    lesson = cli(
        "lessons",
        "add",
        "--group",
        "3B",
        "--start",
        iso(start),
        "--end",
        iso(end),
        "--subject",
        "biologie",
        "--room",
        "B2",
    )
    listed = json.loads(cli("lessons", "list", "--group", "3B", "--json"))
    assert [row["id"] for row in listed] == [lesson]
    code = cli("enroll-code", "create", "--group", "3B", "--uses", "5", "--expires-in", "1h")

    with serving(db_url) as url:
        agents = []
        for i in range(3):
            answer = requests.post(
                url + "/api/v1/agent/enroll",
                json={
                    "code": code,
                    "platform": "linux",
                    "agent_version": "0.1.0",
                    "label": f"LAPTOP-{i}",
                },
                timeout=TIMEOUT,
            )
            assert answer.status_code == 201, answer.text
            agents.append({"Authorization": f"Bearer {answer.json()['token']}"})
        config = requests.get(url + "/api/v1/agent/config", headers=agents[0], timeout=TIMEOUT)
        assert config.status_code == 200
        assert [item["id"] for item in config.json()["lessons"]] == [lesson]
        again = requests.get(
            url + "/api/v1/agent/config",
            headers={**agents[0], "If-None-Match": config.headers["ETag"]},
            timeout=TIMEOUT,
        )
        assert again.status_code == 304

        batches = [
            [summary(lesson, [finding("telegram", 300)], started=start, ended=end)],
            [
                summary(
                    lesson,
                    [finding("telegram", 600), finding("tiktok", 120)],
                    started=start,
                    ended=end,
                )
            ],
            [summary(lesson, started=start, ended=end)],
        ]
        for headers, batch in zip(agents, batches, strict=True):
            for expected in ("accepted", "duplicate"):
                answer = requests.post(
                    url + "/api/v1/agent/reports",
                    json={"reports": batch},
                    headers=headers,
                    timeout=TIMEOUT,
                )
                assert answer.status_code == 200
                assert {r["status"] for r in answer.json()["results"]} == {expected}

        report = requests.get(
            url + f"/api/v1/lessons/{lesson}/report",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert report.status_code == 200, report.text
        body = report.json()
    assert (body["devices_expected"], body["devices_reporting"]) == (3, 3)
    assert body["categories"] == [{"category": "social_media", "devices": 2, "seconds": 1020}]
    assert {(r["family"], r["devices"], r["seconds"]) for r in body["families"]} == {
        ("telegram", 2, 900),
        ("tiktok", 1, 120),
    }
    assert json.loads(cli("report", lesson, "--json")) == body
    cli.again("schools", "set", "--small-count-threshold", "3")
    suppressed = json.loads(cli.again("report", lesson, "--json"))
    assert suppressed["suppressed_below"] == 3
    assert suppressed["categories"] == [
        {"category": "social_media", "devices": None, "seconds": None}
    ]
    assert {(r["family"], r["devices"], r["seconds"]) for r in suppressed["families"]} == {
        ("telegram", None, None),
        ("tiktok", None, None),
    }
