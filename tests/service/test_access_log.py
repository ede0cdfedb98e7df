"""The access log of the real ``lessonwatch-service serve`` (issue 15): a device's address and
port are not written unless IT turns ``access_log_addresses`` on."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli.access_log import HideClientAddress, log_config
from tests.support.ports import start_listening

pytestmark = pytest.mark.slow


def serve_and_log(tmp_path: Path, **env: str) -> tuple[str, list[int]]:
    """Serve on loopback, make two requests (a health check and a refused enrolment), stop the
    server as a supervisor would, and return everything it wrote with the requests' client
    ports."""
    log_path = tmp_path / "serve.log"
    db = f"sqlite:///{tmp_path / 'collector.sqlite3'}"

    def start(port: int) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--port", str(port), "--db", db],
                stdout=log,
                stderr=log,
                env={**os.environ, "LESSONWATCH_PURGE_INTERVAL_SECONDS": "0", **env},
            )

    proc, port = start_listening(start, timeout=60, log=lambda: log_path.read_text())
    ports = []
    try:
        for method, path, body in (
            ("GET", "/healthz", None),
            ("POST", "/api/v1/agent/enroll", {"code": "NOPE", "platform": "linux"}),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.connect()
            assert conn.sock is not None
            ports.append(conn.sock.getsockname()[1])
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    return log_path.read_text(), ports


def test_the_access_log_leaves_out_client_addresses_by_default(tmp_path: Path) -> None:
    """Each request is one line with its method, path and status, and neither the client's
    address nor its port is anywhere in what the collector wrote."""
    text, ports = serve_and_log(tmp_path)
    assert '"GET /healthz HTTP/1.1" 200' in text
    assert '"POST /api/v1/agent/enroll HTTP/1.1" 422' in text
    assert not re.search(r"127\.0\.0\.1:\d+ - ", text)
    assert [str(p) in text for p in ports] == [False, False]


def test_it_may_turn_addresses_on(tmp_path: Path) -> None:
    """With LESSONWATCH_ACCESS_LOG_ADDRESSES=true the lines carry uvicorn's address and port."""
    text, ports = serve_and_log(tmp_path, LESSONWATCH_ACCESS_LOG_ADDRESSES="true")
    assert f'127.0.0.1:{ports[0]} - "GET /healthz HTTP/1.1" 200' in text
    assert f'127.0.0.1:{ports[1]} - "POST /api/v1/agent/enroll HTTP/1.1" 422' in text


def test_the_address_is_gone_from_the_record_itself() -> None:
    """Another handler on uvicorn's access logger (one IT adds) cannot write the address
    either: the filter takes it out of the record, not only out of the line's format."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("10.1.2.3:5123", "GET", "/healthz", "1.1", 200),
        None,
    )
    assert HideClientAddress().filter(record)
    assert record.getMessage() == '- - "GET /healthz HTTP/1.1" 200'
    assert "client_addr" not in log_config(False)["formatters"]["access"]["fmt"]
    assert "client_addr" in log_config(True)["formatters"]["access"]["fmt"]
