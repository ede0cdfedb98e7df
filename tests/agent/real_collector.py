"""The real collector (``lessonwatch-service serve``) on loopback, behind a recording proxy.

Test-facing methods match ``Standin`` where the real collector can offer them: ``url``,
``enrolment_code``, ``add_lesson``, ``grant``, ``down``/``up`` and ``traffic``; what the agent
sent is read back through the collector's own ``report`` command and its database file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policies.wire import format_time
from service.cli.main import main as service_main
from tests.support.ports import start_listening

REPO = Path(__file__).resolve().parents[2]


class RecordingProxy:
    """A TCP relay on loopback that keeps every byte the agent sends."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()  # collector down: the agent sees the connection drop
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self.lock:
                        self.sent.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            src.close()  # each socket is the source of exactly one pipe

    def close(self) -> None:
        self.listener.close()


class RealCollector:
    def __init__(self, root: Path):
        self.root = root
        self.db = root / "collector.sqlite3"
        self.env = {
            **os.environ,
            "LESSONWATCH_DB": f"sqlite:///{self.db}",
            "PYTHONPATH": str(REPO),
        }
        self.port = 0  # chosen by ``up``
        self.proxy = RecordingProxy(self.port)
        self.proc: subprocess.Popen[bytes] | None = None
        # A fresh collector's first step: it creates the database and the school commands use.
        self.cli("schools", "add", "School")
        # One test device: the school shows counts of one device, so tests read them exactly.
        self.cli("schools", "set", "--small-count-threshold", "1")
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def cli(self, *args: str) -> str:
        """An administration command, run in this process: the same ``main`` as the installed
        ``lessonwatch-service`` (tests/service/test_end_to_end.py runs it as a process), less
        the second of CPU a new interpreter spends importing the service."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = service_main([*args, "--db", f"sqlite:///{self.db}"])
        assert code == 0, err.getvalue()
        return out.getvalue().strip()

    def up(self) -> None:
        """Start the collector; once the process itself listens (a port another worker's
        server took is given up for a new one), the proxy forwards to it."""
        log_path = self.root / "serve.log"

        def start(port: int) -> subprocess.Popen[bytes]:
            with log_path.open("ab") as log:
                return subprocess.Popen(
                    [sys.executable, "-m", "service", "serve", "--port", str(port)],
                    env=self.env,
                    stdout=log,
                    stderr=log,
                    cwd=REPO,
                )

        self.proc, self.port = start_listening(
            start, timeout=30, log=lambda: log_path.read_text(errors="replace")
        )
        self.proxy.target_port = self.port

    def down(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
            self.proc = None

    def close(self) -> None:
        self.down()
        self.proxy.close()

    def enrolment_code(self, group: str, uses: int = 5) -> str:
        return self.cli("enroll-code", "create", "--group", group, "--uses", str(uses))

    def add_lesson(
        self, group: str, start: datetime, end: datetime, *, remote: bool = False
    ) -> str:
        args = [
            "lessons",
            "add",
            "--group",
            group,
            "--start",
            format_time(start),
            "--end",
            format_time(end),
        ]
        return self.cli(*args, *(["--remote"] if remote else []))

    def grant(self, lesson_id: str, categories: list[str]) -> None:
        self.cli("permissions", "grant", lesson_id, "--categories", ",".join(categories))

    def report(self, lesson_id: str) -> dict[str, Any]:
        return json.loads(self.cli("report", lesson_id, "--json"))

    def traffic(self) -> bytes:
        with self.proxy.lock:
            return bytes(self.proxy.sent)

    def database_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.root.glob("collector.sqlite3*"))


@dataclass(frozen=True)
class Stored:
    """One summary as the collector stored it (its own columns, which its report adds up)."""

    report_id: str
    started_at: datetime
    ended_at: datetime
    seconds_monitored: int


def stored(collector: RealCollector, lesson_id: str) -> list[Stored]:
    """Every summary the collector stored for a lesson, read from its database, by start."""
    db = sqlite3.connect(collector.db)
    try:
        rows = db.execute(
            "SELECT report_id, started_at, ended_at, seconds_monitored "
            "FROM device_lesson_summaries WHERE lesson_id = ? ORDER BY started_at, id",
            (lesson_id,),
        ).fetchall()
    finally:
        db.close()
    # SQLite keeps the collector's UTC times without their zone (``service.db.UTCDateTime``).
    return [
        Stored(
            report_id,
            datetime.fromisoformat(started).replace(tzinfo=UTC),
            datetime.fromisoformat(ended).replace(tzinfo=UTC),
            seconds,
        )
        for report_id, started, ended, seconds in rows
    ]


def stored_summaries(collector: RealCollector, lesson_id: str) -> list[str]:
    """The report ids the collector stored for a lesson, read from its database."""
    return [s.report_id for s in stored(collector, lesson_id)]
