"""A small but real collector stand-in: the agent API of docs/api.md over HTTP on loopback.

Used until the real collector (issue 3) lands; the ``collector`` fixture in conftest.py hands
tests either this or, later, the real one with the same test-facing methods. It implements the
contract faithfully where the agent can notice: bearer auth checked before the body is read,
enrolment codes with limited uses, config with ETag / 304 and a ``Date`` header, reports with a
per-item accepted / duplicate / rejected answer using ``policies.wire.parse_summary`` and the
effective policy, 413 / 400 / 422 / 401, 429 with ``Retry-After`` or 503 on demand, and a switch
that takes it off the network (connection refused) and back on the same port. Every request is
recorded raw, so tests can search the traffic for things that must never be sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from policies import document_digest, effective_document
from policies.wire import WireError, check_against_policy, format_time, parse_summary

MAX_BODY = 1024 * 1024
MAX_ITEMS = 500


@dataclass
class Device:
    device_id: str
    token: str
    group: str
    fingerprint: str | None


@dataclass
class StandinLesson:
    id: str
    group: str
    start: datetime
    end: datetime
    remote: bool = False
    cancelled: bool = False


@dataclass
class State:
    codes: dict[str, tuple[str, int]] = field(default_factory=dict)  # code -> (group, uses left)
    devices: dict[str, Device] = field(default_factory=dict)  # token -> device
    lessons: list[StandinLesson] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # id -> dev, body
    traffic: list[bytes] = field(default_factory=list)
    answers: list[tuple[str, int]] = field(default_factory=list)  # (path, status)
    fail_next: list[tuple[int, int | None]] = field(default_factory=list)  # (status, retry_after)
    poll_seconds: dict[str, int] = field(default_factory=lambda: {"in_lesson": 60, "idle": 900})
    clock_skew: float = 0.0
    hold_answers: float = 0.0  # seconds to wait after storing reports, before answering
    padding: int = 0  # hostile mode: bytes of junk added to config and report answers
    enroll_token: str | None = None  # hostile mode: the token handed out at enrolment
    # The school's fingerprint key; None plays a collector older than the key (404).
    fingerprint_key: str | None = field(default_factory=lambda: secrets.token_hex(32))
    policy: dict[str, Any] = field(default_factory=effective_document)


def _rules(policy: dict[str, Any]) -> tuple[dict[str, tuple[str, frozenset[str]]], set[str]]:
    rules = {r["id"]: (r["article"], frozenset(r.get("categories", []))) for r in policy["rules"]}
    return rules, set(policy["families"]) | set(policy["signals"])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.standin.lock:
            self.server.standin.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.standin.lock:
            self.server.standin.connections.discard(self.connection)
        super().finish()

    def date_time_string(self, timestamp: float | None = None) -> str:
        skew = self.server.standin.state.clock_skew
        return formatdate((timestamp or time.time()) + skew, usegmt=True)

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.server.standin.lock:
            self.server.standin.state.answers.append((self.path, status))

    def _error(self, status: int, code: str, message: str, **headers: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def _record(self, body: bytes) -> None:
        head = f"{self.requestline}\r\n{self.headers}".encode()
        with self.server.standin.lock:
            self.server.standin.state.traffic.append(head + body)

    def _device(self) -> Device | None:
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        return self.server.standin.state.devices.get(token)

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._record(b"")
            self._error(413, "body_too_large", "at most 1 MiB")
            self.close_connection = True
            return None
        body = self.rfile.read(length)
        self._record(body)
        return body

    def do_GET(self) -> None:
        if self.path != "/api/v1/agent/config":
            self._record(b"")
            self._error(404, "not_found", "no such endpoint")
            return
        self._record(b"")
        device = self._device()
        if device is None:
            self._error(401, "unauthorized", "unknown or revoked token")
            return
        body = self.server.standin.config_for(device)
        if self.server.standin.state.padding:
            body["junk"] = "x" * self.server.standin.state.padding
        etag = (
            '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'
        )
        if self.headers.get("If-None-Match") == etag:
            self._send(304, None, {"ETag": etag})
            return
        self._send(200, body, {"ETag": etag})

    def do_POST(self) -> None:
        standin = self.server.standin
        if self.path == "/api/v1/agent/enroll":
            body = self._body()
            if body is not None:
                self._enroll(body)
            return
        if self.path == "/api/v1/agent/fingerprint-key" and standin.state.fingerprint_key:
            body = self._body()
            if body is not None:
                self._fingerprint_key(body)
            return
        if self.path != "/api/v1/agent/reports":
            self._body()
            self._error(404, "not_found", "no such endpoint")
            return
        device = self._device()  # checked before the body is read
        if device is None:
            self._record(b"")
            self._error(401, "unauthorized", "unknown or revoked token")
            self.close_connection = True
            return
        body = self._body()
        if body is None:
            return
        with standin.lock:
            failure = standin.state.fail_next.pop(0) if standin.state.fail_next else None
        if failure is not None:
            status, retry_after = failure
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            self._error(
                status, "rate_limited" if status == 429 else "unavailable", "try later", **extra
            )
            return
        try:
            data = json.loads(body)
        except ValueError:
            self._error(400, "invalid_json", "body is not JSON")
            return
        items = data.get("reports") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            self._error(422, "invalid_request", "expected {'reports': [...]} of at most 500")
            return
        results = [standin.ingest(device, item) for item in items]
        if standin.state.hold_answers:
            time.sleep(standin.state.hold_answers)
        answer: dict[str, Any] = {"results": results}
        if standin.state.padding:
            answer["junk"] = "x" * standin.state.padding
        self._send(200, answer)

    def _fingerprint_key(self, body: bytes) -> None:
        standin = self.server.standin
        code = _code_in(body)
        with standin.lock:
            usable = code is not None and standin.state.codes.get(code, ("", 0))[1] > 0
        if code is None:
            self._error(422, "invalid_request", "code is required")
        elif not usable:
            self._error(403, "enrolment_code_invalid", "unknown, expired or used up")
        else:  # the code is not spent
            self._send(200, {"fingerprint_key": standin.state.fingerprint_key})

    def _enroll(self, body: bytes) -> None:
        standin = self.server.standin
        try:
            data = json.loads(body)
            code, platform = data["code"], data["platform"]
            if platform not in ("linux", "windows", "macos") or len(data.get("label") or "") > 64:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._error(422, "invalid_request", "code and platform are required")
            return
        with standin.lock:
            group, uses = standin.state.codes.get(code, ("", 0))
            if uses <= 0:
                self._error(403, "enrolment_code_invalid", "unknown, expired or used up")
                return
            standin.state.codes[code] = (group, uses - 1)
            token = standin.state.enroll_token or secrets.token_urlsafe(24)
            device = Device(
                "d_" + secrets.token_hex(8),
                token,
                group,
                data.get("fingerprint"),
            )
            standin.state.devices[device.token] = device
        self._send(
            201,
            {
                "device_id": device.device_id,
                "token": device.token,
                "group": group,
                "school": "Demo",
            },
        )


def _code_in(body: bytes) -> str | None:
    """The enrolment code of a ``{"code": ...}`` body; None for any other body."""
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("code"), str):
            return str(data["code"])
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: Standin

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (the SIGKILL tests) is expected here


class Standin:
    """The stand-in collector; ``url`` is where agents reach it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state = State()
        self.port = 0
        self.connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.standin = self
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def down(self) -> None:
        """Off the network: new connections are refused until ``up()``."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        # Kept-alive connections would otherwise go on being served: a collector that is down
        # answers nothing at all.
        with self.lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.connections.clear()

    close = down

    # -- set-up used by tests -------------------------------------------------------------------
    def enrolment_code(self, group: str, uses: int = 5) -> str:
        code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
        with self.lock:
            self.state.codes[code] = (group, uses)
        return code

    def add_lesson(
        self,
        group: str,
        start: datetime,
        end: datetime,
        *,
        remote: bool = False,
        cancelled: bool = False,
    ) -> str:
        lesson = StandinLesson("l_" + secrets.token_hex(6), group, start, end, remote, cancelled)
        with self.lock:
            self.state.lessons.append(lesson)
        return lesson.id

    def grant(self, lesson_id: str, categories: list[str], at: datetime) -> None:
        with self.lock:
            self.state.permissions.append(
                {
                    "lesson_id": lesson_id,
                    "categories": categories,
                    "granted_at": format_time(at),
                    "withdrawn_at": None,
                }
            )

    def fail(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        with self.lock:
            self.state.fail_next.extend([(status, retry_after)] * times)

    def revoke_all(self) -> None:
        with self.lock:
            self.state.devices.clear()

    # -- what tests read ------------------------------------------------------------------------
    def reports(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, body in self.state.reports.values()]

    def traffic(self) -> bytes:
        with self.lock:
            return b"\n".join(self.state.traffic)

    def statuses(self, path: str) -> list[int]:
        with self.lock:
            return [status for p, status in self.state.answers if p == path]

    # -- the contract ---------------------------------------------------------------------------
    def config_for(self, device: Device) -> dict[str, Any]:
        now = datetime.now(UTC) + timedelta(seconds=self.state.clock_skew)
        with self.lock:
            lessons = [
                x
                for x in self.state.lessons
                if x.group == device.group
                and now - timedelta(hours=12) <= x.end
                and x.start <= now + timedelta(days=7)
            ]
            ids = {x.id for x in lessons}
            policy = self.state.policy
            return {
                "device_id": device.device_id,
                "group": device.group,
                "audience": "pupil",
                "school": {"name": "Demo", "timezone": "Europe/Amsterdam"},
                "lessons": [
                    {
                        "id": x.id,
                        "start": format_time(x.start),
                        "end": format_time(x.end),
                        "remote": x.remote,
                        "cancelled": x.cancelled,
                    }
                    for x in lessons
                ],
                "permissions": [p for p in self.state.permissions if p["lesson_id"] in ids],
                "policy": policy,
                "policy_digest": document_digest(policy),
                "poll_seconds": dict(self.state.poll_seconds),
            }

    def ingest(self, device: Device, item: Any) -> dict[str, Any]:
        try:
            summary = parse_summary(item)
            rules, families = _rules(self.state.policy)
            check_against_policy(summary, rules, families)
        except WireError as exc:
            return {"report_id": None, "status": "rejected", "reason": str(exc)}
        now = datetime.now(UTC) + timedelta(seconds=self.state.clock_skew)
        with self.lock:
            lesson = next((x for x in self.state.lessons if x.id == summary.lesson_id), None)
            if lesson is None or lesson.group != device.group:
                return {
                    "report_id": None,
                    "status": "rejected",
                    "reason": "no such lesson for this group",
                }
            if lesson.start > now + timedelta(hours=1):
                return {
                    "report_id": None,
                    "status": "rejected",
                    "reason": "lesson starts more than an hour from now",
                }
            stored = self.state.reports.get(summary.report_id)
            if stored is not None:
                if stored[0] != device.device_id:
                    return {
                        "report_id": None,
                        "status": "rejected",
                        "reason": "report_id belongs to another device",
                    }
                return {"report_id": summary.report_id, "status": "duplicate", "reason": None}
            self.state.reports[summary.report_id] = (device.device_id, item)
        return {"report_id": summary.report_id, "status": "accepted", "reason": None}
