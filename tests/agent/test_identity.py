"""Identity and safety: enrolment, private files, cloned images, no plain http off loopback."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from agent import identity
from agent.cli import main as agent_main
from agent.errors import ClonedIdentity, FatalError, NotEnrolled
from agent.paths import StatePaths
from tests.agent.standin import Standin


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://collector.school.nl", True),
        ("https://collector.school.nl:8443/", True),
        ("http://127.0.0.1:8000", True),
        ("http://127.8.9.10:8000", True),
        ("http://[::1]:8000", True),
        ("http://localhost:8000", True),
        ("http://collector.school.nl", False),
        ("http://10.0.0.5:8000", False),
        ("http://127.0.0.1.evil.example", False),
        ("http://localhost.evil.example", False),
        ("ftp://collector.school.nl", False),
        ("collector.school.nl", False),
        ("https://collector.school.nl/?x=1", False),
        ("", False),
    ],
)
def test_server_url(url: str, ok: bool) -> None:
    """https anywhere; plain http only to a loopback address."""
    if ok:
        assert identity.check_server_url(url) == url.rstrip("/")
    else:
        with pytest.raises(FatalError):
            identity.check_server_url(url)


def test_enrol_stores_a_private_identity(collector: Standin, state_dir: Path) -> None:
    """Enrolment keeps device id and token in a 0700 directory, the token file 0600."""
    code = collector.enrolment_code("3B")
    assert (
        agent_main(
            [
                "enroll",
                "--state-dir",
                str(state_dir),
                "--server",
                collector.url,
                "--code",
                code,
                "--label",
                "LAPTOP-0042",
            ]
        )
        == 0
    )
    paths = StatePaths(state_dir)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.token.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.identity.stat().st_mode) == 0o600
    me, token = identity.load(paths, identity.fingerprint(identity.machine_id()))
    assert me.group == "3B" and me.label == "LAPTOP-0042" and me.device_id.startswith("d_")
    assert token in collector.state.devices
    # The raw machine id is never sent: only its salted hash.
    raw = identity.machine_id()
    if raw:
        assert raw.encode() not in collector.traffic()
    assert me.fingerprint.encode() in collector.traffic()


def test_enrol_refused_code(
    collector: Standin, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown code is refused with the collector's reason and leaves no identity."""
    assert (
        agent_main(
            ["enroll", "--state-dir", str(state_dir), "--server", collector.url, "--code", "NOPE"]
        )
        == 1
    )
    assert "enrolment refused: collector answered 403" in capsys.readouterr().err
    assert not StatePaths(state_dir).identity.exists()


def test_enrol_refuses_plain_http_elsewhere(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain http to a non-loopback host is refused before anything is sent."""
    assert (
        agent_main(
            [
                "enroll",
                "--state-dir",
                str(state_dir),
                "--server",
                "http://collector.school.nl",
                "--code",
                "X",
            ]
        )
        == 1
    )
    assert "refusing plain http" in capsys.readouterr().err


def test_fingerprint_is_salted_hash() -> None:
    """The fingerprint is a hex SHA-256 that does not contain the machine id."""
    mark = identity.fingerprint("3d1219c7c4c5404aaa1f6d2a48adfda4")
    assert len(mark) == 64 and "3d1219c7" not in mark
    assert mark != identity.fingerprint("another-machine")


def test_cloned_state_is_refused(enrolled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """State copied from another machine (another fingerprint) is refused: IT must enrol again."""
    paths = StatePaths(enrolled)
    data = json.loads(paths.identity.read_text())
    data["fingerprint"] = identity.fingerprint("the-machine-the-image-was-made-on")
    paths.identity.write_text(json.dumps(data))
    with pytest.raises(ClonedIdentity):
        identity.load(paths, identity.fingerprint(identity.machine_id()))
    assert agent_main(["run", "--state-dir", str(enrolled)]) == 1
    assert "enrol this device again" in capsys.readouterr().err


def test_not_enrolled_is_fatal(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run without an identity exits non-zero and says how to enrol."""
    with pytest.raises(NotEnrolled):
        identity.load(StatePaths(state_dir), "x")
    assert agent_main(["run", "--state-dir", str(state_dir)]) == 1
    assert "lessonwatch-agent enroll" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["not json", '{"server": "x"}', "[]"])
def test_damaged_identity_is_fatal(enrolled: Path, content: str) -> None:
    """A damaged identity file is a clear fatal error, not a traceback."""
    StatePaths(enrolled).identity.write_text(content)
    with pytest.raises(FatalError, match="enrol again"):
        identity.load(StatePaths(enrolled), identity.fingerprint(identity.machine_id()))


def test_tls_verification_is_always_on(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An https collector with a certificate nobody vouches for is refused, even on loopback."""
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(201)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        assert (
            agent_main(["enroll", "--state-dir", str(state_dir), "--server", url, "--code", "X"])
            == 1
        )
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert "cannot reach" in err and "SSLError" in err
    assert hits == []  # the request never got past the handshake
    assert not StatePaths(state_dir).identity.exists()
