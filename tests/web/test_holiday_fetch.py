"""The holidays page fetching a holiday file from a URL: the fetch runs before the request's
database transaction, bounded in time and size, against a real HTTP server on loopback that is
slow, silent, oversized, malformed or failing on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from service.models import SchoolHoliday
from tests.support.web import TIMEOUT, Browser, Demo, allow_fetching_from, signed_in
from tests.timetable.replay import replay_server

HOLD = 15.0  # the longest any handler of the stand-in keeps a connection, whatever happens


def holidays_file() -> bytes:
    """A Rijksoverheid-format file with one holiday for region midden (made up for the test)."""
    region = {
        "region": "midden",
        "startdate": "2026-11-30T00:00:00.000Z",
        "enddate": "2026-12-01T22:59:00.000Z",
    }
    vacation = {"type": "Studieweek", "compulsorydates": "true", "regions": [region]}
    content = {"title": "t", "schoolyear": "2026-2027", "vacations": [vacation]}
    return json.dumps([{"id": "t", "type": "schoolholidays", "content": [content]}]).encode()


class HolidayServer(ThreadingHTTPServer):
    """Answers by path: ``/held.json`` (the file, once ``release`` is set), ``/drip.json`` (a
    byte every 0.2 s), ``/silent.json`` (nothing at all), ``/big.json`` (3 MiB without a
    length), ``/bad.json`` (not JSON), ``/error.json`` (HTTP 500)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked = threading.Event()
        self.release = threading.Event()
        self.requests = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: HolidayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests += 1
        self.server.asked.set()
        path = self.path
        if path == "/silent.json":
            time.sleep(HOLD)
            return
        if path == "/error.json":
            self._send(500, b"down for maintenance")
            return
        if path == "/bad.json":
            self._send(200, b"{not json")
            return
        if path == "/held.json":
            self.server.release.wait(HOLD)
            self._send(200, holidays_file())
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if path == "/drip.json":
            self.send_header("Content-Length", "1000")
            self.end_headers()
            until = time.monotonic() + HOLD
            while time.monotonic() < until and self._write(b" "):
                time.sleep(0.2)
            return
        self.send_header("Connection", "close")  # /big.json: no length, ends when closed
        self.end_headers()
        block = b"[" + b" " * 65535
        for _ in range(48):  # 3 MiB
            if not self._write(block):
                return

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            return False  # the collector gave up and closed: so does the stand-in


@pytest.fixture
def holiday_server(demo_sqlite: Demo) -> Iterator[HolidayServer]:
    """The stand-in, on loopback: this collector is told to allow fetching from it."""
    allow_fetching_from(demo_sqlite, "127.0.0.1")
    server = HolidayServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetch_seconds(demo_sqlite: Demo) -> float:
    """Holiday fetches of this collector give up after 1.5 s, so slow servers take little time."""
    rt = demo_sqlite.live.app.state.runtime
    rt.settings = rt.settings.model_copy(update={"holiday_fetch_seconds": 1.5})
    return 1.5


def holidays_stored(demo: Demo) -> int:
    with demo.sessions.begin() as s:
        return int(s.scalar(select(func.count()).select_from(SchoolHoliday)) or 0)


def import_url(browser: Browser, url: str, csrf_from: str | None = "/lessons") -> requests.Response:
    """Post the holidays form with ``url`` (and the CSRF token of the page ``csrf_from``)."""
    fields = {"url": url}
    if csrf_from is not None:
        fields["csrf"] = browser.csrf(csrf_from)
    return browser.http.post(
        browser.base + "/admin/timetable/holidays/import",
        data=fields,
        files={"file": ("", b"", "application/octet-stream")},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
        allow_redirects=False,
    )


def test_a_slow_holiday_server_does_not_hold_the_database(
    demo_sqlite: Demo, holiday_server: HolidayServer
) -> None:
    """While the collector waits for a slow holiday URL, another admin's write goes through at
    once (on SQLite one transaction holds the whole database); then the file is stored."""
    admin, other = signed_in(demo_sqlite, "beheer"), signed_in(demo_sqlite, "beheer")
    answers: list[requests.Response] = []
    fetching = threading.Thread(
        target=lambda: answers.append(import_url(admin, holiday_server.base + "/held.json"))
    )
    fetching.start()
    try:
        assert holiday_server.asked.wait(10), "the collector never fetched the URL"
        began = time.monotonic()
        saved = other.post(
            "/admin/timetable/holidays/region",
            {"region": "midden", "advised": "1"},
            csrf_from="/admin/timetable/holidays",
        )
        took = time.monotonic() - began
        assert saved.status_code == 303, saved.text
        assert took < 3.0, f"the write waited {took:.1f} s for the fetch"
        assert not answers, "the fetch finished before the server answered"
    finally:
        holiday_server.release.set()
        fetching.join(TIMEOUT)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert answers[0].json()["location"] == "/admin/timetable/holidays"
    assert holidays_stored(demo_sqlite) == 1


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/drip.json", "took longer than 1.5 s"),
        ("/silent.json", "timed out"),
        ("/big.json", "larger than the limit"),
        ("/bad.json", "not JSON"),
        ("/error.json", "HTTP 500"),
    ],
)
def test_hostile_holiday_servers_get_a_clear_error_and_store_nothing(
    demo_sqlite: Demo,
    holiday_server: HolidayServer,
    fetch_seconds: float,
    path: str,
    words: str,
) -> None:
    """Slow, silent, oversized, malformed and failing servers: 422 with a message that says what
    went wrong, within the fetch time (with a margin), and no holiday stored."""
    admin = signed_in(demo_sqlite, "beheer")
    began = time.monotonic()
    answer = import_url(admin, holiday_server.base + path)
    took = time.monotonic() - began
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert words in message, message
    assert took < 2 * fetch_seconds + 2.0, f"{path} held the request {took:.1f} s"
    assert holidays_stored(demo_sqlite) == 0


@pytest.mark.parametrize(
    ("username", "with_csrf"),
    [("devries", True), ("beheer", False)],
)
def test_no_fetch_for_other_roles_or_without_the_csrf_token(
    demo_sqlite: Demo, holiday_server: HolidayServer, username: str, with_csrf: bool
) -> None:
    """A teacher, or a request without the session's CSRF token, gets 403 and the collector
    fetches nothing: it cannot be made to call a URL for them."""
    browser = signed_in(demo_sqlite, username)
    csrf_from = "/lessons" if with_csrf else None
    answer = import_url(browser, holiday_server.base + "/held.json", csrf_from)
    assert answer.status_code == 403, answer.text
    assert holiday_server.requests == 0
    assert holidays_stored(demo_sqlite) == 0


INTERNAL = "the host is on this machine or an internal network"


@pytest.mark.parametrize(
    "url",
    [
        "REPLAY/holidays.json",  # loopback by address
        "http://localhost:PORT/holidays.json",  # a name that resolves to loopback
        "https://10.0.0.7/holidays.json",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_holiday_url_on_this_machine_or_an_internal_network_is_refused(
    demo: Demo, url: str
) -> None:
    """A phished admin cannot make the collector scan or read internal addresses: 422 with our
    own reason, no request reaches the server, nothing stored."""
    with replay_server() as replay:
        replay.answer("/holidays.json", holidays_file(), kind="application/json")
        url = url.replace("REPLAY", replay.url).replace("PORT", replay.url.rsplit(":", 1)[1])
        answer = import_url(signed_in(demo, "beheer"), url)
        assert answer.status_code == 422, answer.text
        assert INTERNAL in answer.json()["error"]["message"]
        assert replay.requests("/holidays.json") == []
    assert holidays_stored(demo) == 0


def test_a_holiday_url_redirected_to_a_refused_host_is_not_followed(demo: Demo) -> None:
    """127.0.0.1 is allowed, ``localhost`` is not: the redirect's target is checked again."""
    allow_fetching_from(demo, "127.0.0.1")
    with replay_server() as replay:
        replay.answer("/holidays.json", holidays_file(), kind="application/json")
        port = replay.url.rsplit(":", 1)[1]
        replay.redirect("/moved.json", f"http://localhost:{port}/holidays.json")
        answer = import_url(signed_in(demo, "beheer"), replay.url + "/moved.json")
        assert answer.status_code == 422, answer.text
        assert INTERNAL in answer.json()["error"]["message"]
        assert replay.requests("/holidays.json") == []
    assert holidays_stored(demo) == 0


def test_a_holiday_url_on_an_allowed_host_is_imported(demo: Demo) -> None:
    """The operator may allow a host explicitly (``fetch_allow_hosts``)."""
    allow_fetching_from(demo, "127.0.0.1")
    with replay_server() as replay:
        replay.answer("/holidays.json", holidays_file(), kind="application/json")
        answer = import_url(signed_in(demo, "beheer"), replay.url + "/holidays.json")
        assert answer.status_code == 200, answer.text
    assert holidays_stored(demo) == 1


def test_a_failing_holiday_server_s_answer_is_not_quoted(demo: Demo) -> None:
    """A 500 whose status line and body carry a secret: the message names only the status."""
    allow_fetching_from(demo, "127.0.0.1")
    with replay_server() as replay:
        replay.answer("/holidays.json", b"db password: hunter2-body", status=500)
        replay.reason = "hunter2-reason"
        answer = import_url(signed_in(demo, "beheer"), replay.url + "/holidays.json")
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "HTTP 500 Internal Server Error" in message
    assert "hunter2" not in message
