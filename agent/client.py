"""Talking to the collector over HTTP (docs/api.md, agent API), and nothing else.

TLS verification is always on (requests' default, never switched off here); ``check_server_url``
refuses plain http except to loopback before any request is made. Every failure becomes one of
three outcomes the caller can act on: ``Unreachable`` (retry later), ``CollectorError`` with the
status (the caller decides), or a parsed answer.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from datetime import UTC, datetime
from typing import Any

import requests

from agent import __version__
from agent.errors import CollectorError
from agent.identity import check_server_url
from agent.link import Answer, Link, Unreachable

__all__ = ["MAX_ANSWER_BYTES", "Answer", "Collector", "Link", "Unreachable", "platform_name"]

TIMEOUT = (5.0, 15.0)  # connect, read
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{1,512}$")
_KEY = re.compile(r"^[0-9a-f]{64}$")
MAX_ANSWER_BYTES = 8 * 1024 * 1024


def platform_name() -> str:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def _error(answer: Answer) -> CollectorError:
    code = message = None
    if isinstance(answer.body, dict) and isinstance(answer.body.get("error"), dict):
        code = answer.body["error"].get("code")
        message = answer.body["error"].get("message")
    return CollectorError(
        f"collector answered {answer.status}: {message or code or 'no reason given'}",
        status=answer.status,
        code=code if isinstance(code, str) else None,
    )


class Collector:
    def __init__(self, server: str, token: str | None = None):
        self.server = check_server_url(server)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = (
            f"lessonwatch-agent/{__version__} ({platform.system()})"
        )
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Answer:
        sent = datetime.now(UTC)
        try:
            response = self.session.request(
                method,
                self.server + path,
                timeout=TIMEOUT,
                verify=True,
                allow_redirects=False,
                stream=True,
                **kwargs,
            )
            with response:
                raw = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            # Every transport failure, including ConnectionError (refused), is "try later": only
            # treating ConnectTimeout so dropped queued data in aw-client.
            raise Unreachable(f"{exc.__class__.__name__}: {str(exc)[:200]}") from None
        received = datetime.now(UTC)
        if len(raw) > MAX_ANSWER_BYTES:
            # A collector never sends this much; whatever it is, it is not read into memory.
            raise CollectorError(
                f"answer larger than {MAX_ANSWER_BYTES} bytes", status=response.status_code
            )
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return Answer(response.status_code, body, response.headers, sent, received)

    def fingerprint_key(self, code: str) -> str | None:
        """The school's fingerprint key for a device about to enrol with ``code`` (the code is
        not spent); None from a collector older than the key (404). CollectorError otherwise,
        as for enrolment."""
        answer = self._call("POST", "/api/v1/agent/fingerprint-key", json={"code": code})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise _error(answer)
        key = answer.body.get("fingerprint_key") if isinstance(answer.body, dict) else None
        if not isinstance(key, str) or not _KEY.match(key):
            raise CollectorError("the fingerprint key is not 64 hex characters", status=200)
        return key

    def enroll(self, *, code: str, label: str | None, fingerprint: str | None) -> dict[str, Any]:
        payload = {"code": code, "platform": platform_name(), "agent_version": __version__}
        if fingerprint:
            payload["fingerprint"] = fingerprint
        if label:
            payload["label"] = label
        answer = self._call("POST", "/api/v1/agent/enroll", json=payload)
        if answer.status != 201:
            raise _error(answer)
        body = answer.body
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and _TOKEN.match(body[k]) for k in ("device_id", "token")
        ):
            # The token goes into a header and the id into files: only plain printable ASCII.
            raise CollectorError("enrolment answer lacks a valid device_id or token", status=201)
        return body

    def config(self, etag: str | None) -> Answer:
        """200 with a body, or 304; anything else raises CollectorError."""
        headers = {"If-None-Match": etag} if etag else {}
        answer = self._call("GET", "/api/v1/agent/config", headers=headers)
        if answer.status not in (200, 304) or (
            answer.status == 200 and not isinstance(answer.body, dict)
        ):
            raise _error(answer)
        return answer

    def reports(self, bodies: list[str]) -> Answer:
        """POST stored summaries verbatim; the caller reads the status and per-item results."""
        data = ('{"reports":[' + ",".join(bodies) + "]}").encode()
        return self._call(
            "POST",
            "/api/v1/agent/reports",
            data=data,
            headers={"Content-Type": "application/json"},
        )
