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
from tests.agent.conftest import move_to_another_machine
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
    me, token = identity.load(paths, identity.machine_id())
    assert me.group == "3B" and me.label == "LAPTOP-0042" and me.device_id.startswith("d_")
    assert token in collector.state.devices
    # Sent: the machine id keyed with the school's key; never the id, never the unkeyed hash.
    raw = identity.machine_id()
    assert collector.state.fingerprint_key is not None
    assert me.fingerprint == identity.keyed(collector.state.fingerprint_key, raw)
    assert collector.state.devices[token].fingerprint == me.fingerprint
    if raw:
        assert raw.encode() not in collector.traffic()
    assert identity.legacy_fingerprint(raw).encode() not in collector.traffic()
    # The check that finds a cloned state stays on the device, and the key is not kept.
    assert me.machine_check is not None and me.machine_check.encode() not in collector.traffic()
    assert collector.state.fingerprint_key not in paths.identity.read_text()


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
    # Refused when it asked for the key: it never tried to enrol. (Requests are recorded before
    # they are answered; the answers only after, so the client may be done before they are.)
    assert b"POST /api/v1/agent/fingerprint-key" in collector.traffic()
    assert b"POST /api/v1/agent/enroll" not in collector.traffic()


def test_a_collector_without_keys_gets_no_fingerprint(
    collector: Standin, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older collector answers 404 for the key: the device enrols without a fingerprint
    rather than with the unkeyed hash, and still recognises a clone of its state."""
    collector.state.fingerprint_key = None
    code = collector.enrolment_code("3B")
    args = ["enroll", "--state-dir", str(state_dir), "--server", collector.url, "--code", code]
    assert agent_main(args) == 0
    assert "no fingerprint key" in caplog.text
    paths = StatePaths(state_dir)
    me, token = identity.load(paths, identity.machine_id())
    assert me.fingerprint is None and collector.state.devices[token].fingerprint is None
    assert b'"fingerprint"' not in collector.traffic()
    assert identity.legacy_fingerprint(identity.machine_id()).encode() not in collector.traffic()
    move_to_another_machine(state_dir)
    with pytest.raises(ClonedIdentity):
        identity.load(paths, identity.machine_id())


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


MACHINE = "3d1219c7c4c5404aaa1f6d2a48adfda4"
KEY_A, KEY_B = "a" * 64, "b" * 64


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        # clones of one image in one school: one fingerprint
        ((KEY_A, MACHINE), (KEY_A, MACHINE), True),
        # the same machine in two schools: two fingerprints nobody can link
        ((KEY_A, MACHINE), (KEY_B, MACHINE), False),
        # two machines of one school
        ((KEY_A, MACHINE), (KEY_A, "another-machine"), False),
        # no machine id from the OS: one marker, still keyed
        ((KEY_A, None), (KEY_A, None), True),
        ((KEY_A, None), (KEY_B, None), False),
    ],
)
def test_keyed_fingerprint(
    one: tuple[str, str | None], other: tuple[str, str | None], same: bool
) -> None:
    """HMAC-SHA256 of the machine id under the school's key: equal exactly for one key and one
    machine."""
    assert (identity.keyed(*one) == identity.keyed(*other)) is same


def test_a_machine_id_alone_does_not_give_the_fingerprint() -> None:
    """Without the key, neither the id, nor its hash, nor the old salted hash is the fingerprint."""
    import hashlib

    mark = identity.keyed(KEY_A, MACHINE)
    assert len(mark) == 64 and MACHINE[:8] not in mark
    assert mark not in (
        identity.legacy_fingerprint(MACHINE),
        hashlib.sha256(MACHINE.encode()).hexdigest(),
        identity.keyed("00" * 32, MACHINE),
    )


def test_cloned_state_is_refused(enrolled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """State copied from another machine (its machine check fails here) is refused: IT must
    enrol again."""
    move_to_another_machine(enrolled)
    with pytest.raises(ClonedIdentity):
        identity.load(StatePaths(enrolled), identity.machine_id())
    assert agent_main(["run", "--state-dir", str(enrolled)]) == 1
    assert "enrol this device again" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "cloned"),
    [
        # written by an agent before keyed fingerprints: the unkeyed hash is its check
        ({"machine_salt": None, "machine_check": None, "fingerprint": "here"}, False),
        ({"machine_salt": None, "machine_check": None, "fingerprint": "elsewhere"}, True),
        # half a check, or one that is not hex, is no check of this machine
        ({"machine_check": None}, True),
        ({"machine_salt": "not hex"}, True),
        ({"machine_salt": 7}, True),
    ],
)
def test_identity_files_of_older_agents_and_edited_ones(
    enrolled: Path, change: dict[str, object], cloned: bool
) -> None:
    """An identity an older agent wrote still runs on its own machine; one whose check is
    missing a part or is not hex counts as made elsewhere."""
    paths = StatePaths(enrolled)
    data = json.loads(paths.identity.read_text())
    raw = identity.machine_id()
    marks = {
        "here": identity.legacy_fingerprint(raw),
        "elsewhere": identity.legacy_fingerprint("x"),
    }
    data |= {k: marks.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    paths.identity.write_text(json.dumps(data))
    if cloned:
        with pytest.raises(ClonedIdentity):
            identity.load(paths, raw)
    else:
        assert identity.load(paths, raw)[0].device_id == data["device_id"]


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
        identity.load(StatePaths(enrolled), identity.machine_id())


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
