"""Issue 14, sign-in and headers: the attacks of a hostile network on the pages, reproduced over
real HTTP against a real uvicorn, on SQLite and PostgreSQL. Each failed on the main branch before
the fix: a lock-out that named the accounts, one address locking out another, no security
headers, no Secure cookie behind a proxy, Swagger UI from a CDN, and sign-ins starving devices.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest
import requests
from fastapi import FastAPI

from service import credentials
from service.app import create_app, release
from service.settings import Settings
from service.web import WebSettings
from tests.support.clock import DEMO_NOW, FakeClock
from tests.support.collector import Live, live_server, serve_in_thread
from tests.support.databases import DemoDatabase
from tests.support.web import TIMEOUT, Browser, Demo

ATTACKER = "203.0.113.9"
TEACHER_HOME = "198.51.100.7"


class CountingVerifier:
    """The real argon2 check, counting how often it ran: the work an answer cost."""

    def __init__(self) -> None:
        self.inner = credentials.Argon2Verifier()
        self.calls = 0
        self._lock = threading.Lock()

    def verify(self, stored: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
        return self.inner.verify(stored, password)


@contextmanager
def as_served(app: FastAPI) -> Iterator[Live]:
    """``app`` under uvicorn configured as ``lessonwatch-service serve`` runs it: uvicorn itself
    believes no forwarded headers (the shared test server believes loopback's)."""
    server, thread, port = serve_in_thread(app, 20, lifespan="off", proxy_headers=False)
    try:
        yield Live(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(20)
        release(app)


def serve(
    database: DemoDatabase,
    clock: FakeClock,
    *,
    web: WebSettings | None = None,
    verifier: credentials.Verifier | None = None,
    proxied: bool = False,
    **settings: Any,
) -> Iterator[Demo]:
    """The demo school served over HTTP; ``proxied``: as in production, for the tests of what
    a reverse proxy forwards."""
    assert clock() == DEMO_NOW, "the demo template was seeded at DEMO_NOW"
    app = create_app(
        Settings(db=database.url, purge_interval_seconds=0, **settings),
        clock=clock,
        web=web or WebSettings(demo=True),
        verifier=verifier,
    )
    with as_served(app) if proxied else live_server(app) as live:
        yield Demo(live, database.school, app.state.runtime.sessions, clock)


class From(Browser):
    """A browser at ``address``, as a trusted reverse proxy in front of the collector says."""

    def __init__(self, base: str, address: str, proto: str = "http") -> None:
        super().__init__(base)
        self.http.headers.update({"X-Forwarded-For": address, "X-Forwarded-Proto": proto})


def _comparable(html: str, username: str) -> str:
    """The page without what differs by design: the echoed name and the CSRF token."""
    html = re.sub(r'name="csrf" value="[^"]+"', "", html)
    return html.replace(f'value="{username}"', 'value=""')


# --- the answer does not tell which names exist --------------------------------------------


def test_unknown_and_known_names_get_the_same_answers_for_the_same_work(
    demo_db: DemoDatabase, web_clock: FakeClock
) -> None:
    """Wrong passwords for a real and an invented name get the same status, page and number of
    password checks, also after the sixth try (main locked only real accounts)."""
    verifier = CountingVerifier()
    for demo in serve(demo_db, web_clock, verifier=verifier):
        seen: dict[str, list[tuple[int, str, int]]] = {}
        for name in ("devries", "nobodyhere"):
            browser = Browser(demo.url)
            seen[name] = []
            for _ in range(7):
                before = verifier.calls
                answer = browser.sign_in(name, "wrong password!")
                body = _comparable(answer.text, name)
                seen[name].append((answer.status_code, body, verifier.calls - before))
        assert seen["devries"] == seen["nobodyhere"]
        assert [status for status, _, _ in seen["devries"]] == [401] * 5 + [429] * 2
        assert [calls for _, _, calls in seen["devries"]] == [1] * 5 + [0] * 2


# --- an attacker cannot lock the real user out -----------------------------------------------


def test_real_user_signs_in_from_elsewhere_while_an_attacker_guesses(
    demo_db: DemoDatabase, web_clock: FakeClock
) -> None:
    """Twenty wrong passwords from one address slow that address down for that name only; the
    teacher signs in from another address (main locked the account for everyone)."""
    for demo in serve(demo_db, web_clock, proxied=True, trusted_proxies="127.0.0.1"):
        attacker = From(demo.url, ATTACKER)
        statuses = {attacker.sign_in("devries", f"guess {i}!").status_code for i in range(20)}
        assert From(demo.url, TEACHER_HOME).sign_in("devries").status_code == 303
        assert statuses == {401, 429}
        # The attacker's pair stays slowed even with the right password: guessing is no faster.
        refused = attacker.sign_in("devries")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_slowed_pair_earns_its_tries_back_with_time(
    demo_db: DemoDatabase, web_clock: FakeClock
) -> None:
    """After the window has passed the same address may try that name again."""
    web = WebSettings(demo=True, lockout_failures=3, lockout_minutes=15)
    for demo in serve(demo_db, web_clock, web=web):
        browser = Browser(demo.url)
        for _ in range(3):
            assert browser.sign_in("devries", "wrong password!").status_code == 401
        assert browser.sign_in("devries").status_code == 429
        web_clock.advance(timedelta(minutes=5, seconds=1))
        assert browser.sign_in("devries").status_code == 303


# --- headers ------------------------------------------------------------------------------------


HEADER_ROWS = [
    ("/signin", "text/html", 200),
    ("/lessons", "text/html", 303),
    ("/healthz", "application/json", 200),
    ("/api/v1/agent/config", "application/json", 401),
    ("/no-such-page", "text/html", 404),
    ("/no-such-page", "application/json", 404),
    ("/static/style.css", "text/css", 200),
]


def test_security_headers_on_pages_api_and_errors(
    demo_db: DemoDatabase, web_clock: FakeClock
) -> None:
    """Every answer forbids framing, sniffing, inline script and foreign sources (the rows
    share one served app: the headers do not depend on which request came first)."""
    for demo in serve(demo_db, web_clock):
        for path, accept, status in HEADER_ROWS:
            where = f"{path} ({accept})"
            answer = Browser(demo.url).get(path, headers={"Accept": accept})
            assert answer.status_code == status, where
            csp = answer.headers["Content-Security-Policy"]
            directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
            assert directives["script-src"] == "'self'", where
            assert directives["default-src"] == "'self'", where
            assert directives["frame-ancestors"] == "'none'", where
            assert answer.headers["X-Content-Type-Options"] == "nosniff", where
            assert answer.headers["Referrer-Policy"] == "same-origin", where
            # plain http: HSTS would mean nothing
            assert "Strict-Transport-Security" not in answer.headers, where


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.inline.append(tag)
        self.inline += [name for name, _ in attrs if name.startswith("on")]
        for name in ("src", "href", "action"):
            url = values.get(name) or ""
            if re.match(r"^(https?:)?//", url):
                self.external.append(url)


def test_templates_have_no_inline_script() -> None:
    """The CSP allows scripts from /static only, so no template may hold one inline."""
    templates = resources.files("service.web") / "templates"
    found = {}
    for template in templates.iterdir():
        parser = _Scripts()
        parser.feed(template.read_text())
        if parser.inline:
            found[template.name] = parser.inline
    assert found == {}


def test_nothing_is_loaded_from_elsewhere(demo_db: DemoDatabase, web_clock: FakeClock) -> None:
    """The API documentation pages, which load Swagger UI from a CDN, are off by default, and
    the pages name no outside URL; the schema itself stays available."""
    for demo in serve(demo_db, web_clock):
        for path in ("/docs", "/redoc", "/signin"):
            answer = Browser(demo.url).get(path)
            parser = _Scripts()
            parser.feed(answer.text)
            assert parser.external == [], path
            assert "cdn" not in answer.text, path
        assert requests.get(demo.url + "/openapi.json", timeout=TIMEOUT).status_code == 200


def test_api_docs_when_turned_on_may_load_from_their_cdn_only(
    demo_db: DemoDatabase, web_clock: FakeClock
) -> None:
    """An operator who turns the API documentation on gets working pages: their policy allows
    the CDN they load from, and only they do."""
    for demo in serve(demo_db, web_clock, api_docs=True):
        docs = Browser(demo.url).get("/docs")
        signin = Browser(demo.url).get("/signin")
    assert docs.status_code == 200 and "https://cdn.jsdelivr.net" in docs.text
    assert "https://cdn.jsdelivr.net" in docs.headers["Content-Security-Policy"]
    assert "cdn.jsdelivr.net" not in signin.headers["Content-Security-Policy"]


# --- behind a reverse proxy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "secure"),
    [
        ("127.0.0.1", True),  # the proxy on the same machine, as docs/deploy.md sets it up
        ("10.0.0.0/8, 127.0.0.1", True),
        ("10.9.8.7", False),  # anyone else saying "https" is not believed
        ("", False),
    ],
)
def test_session_cookie_is_secure_behind_a_trusted_proxy_only(
    demo_db: DemoDatabase, web_clock: FakeClock, trusted: str, secure: bool
) -> None:
    """X-Forwarded-Proto: https from a trusted proxy marks the cookie Secure and sends HSTS."""
    for demo in serve(demo_db, web_clock, proxied=True, trusted_proxies=trusted):
        answer = From(demo.url, TEACHER_HOME, proto="https").get("/signin")
        assert answer.status_code == 200
        assert ("Secure" in answer.headers["set-cookie"]) is secure
        assert ("Strict-Transport-Security" in answer.headers) is secure


# --- a flood of sign-ins does not starve the devices ---------------------------------------------


def test_sign_in_flood_leaves_device_config_fast(
    demo_db: DemoDatabase, web_clock: FakeClock
) -> None:
    """Forty concurrent sign-ins under invented names (each a full-cost argon2 hash) while a
    device fetches its config: the config's 95th percentile stays under 300 ms, and the sign-ins
    beyond the hash queue are told to come back (429 with Retry-After)."""
    web = WebSettings(demo=True, signin_per_minute=10_000, signin_burst=10_000)
    for demo in serve(demo_db, web_clock, web=web, device_burst=10_000):
        answers, took = _flood(demo, sign_ins=40)
    p95 = statistics.quantiles(took, n=20)[-1]
    assert p95 < 0.3, f"config p95 {p95 * 1000:.0f} ms over {len(took)} fetches"
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {401, 429} and 429 in statuses and 401 in statuses
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 429)


def _flood(demo: Demo, *, sign_ins: int) -> tuple[list[requests.Response], list[float]]:
    """``sign_ins`` concurrent sign-ins under invented names while two devices fetch their
    config until the last answer is in; the answers and the fetches' durations."""
    token = next(iter(demo.school.device_tokens.values()))
    config_url = demo.url + "/api/v1/agent/config"
    auth = {"Authorization": f"Bearer {token}"}
    browser = Browser(demo.url)
    fields = {"csrf": browser.csrf(), "password": "a wrong password"}
    cookies = browser.http.cookies.get_dict()
    stop = threading.Event()

    def sign_in(i: int) -> requests.Response:
        return requests.post(
            demo.url + "/signin",
            cookies=cookies,
            data={**fields, "username": f"nobody{i}"},
            timeout=30,
            allow_redirects=False,
        )

    def fetch_configs() -> list[float]:
        took = []
        with requests.Session() as device:
            while not stop.is_set() or len(took) < 20:
                start = time.perf_counter()
                assert device.get(config_url, headers=auth, timeout=30).status_code == 200
                took.append(time.perf_counter() - start)
        return took

    with ThreadPoolExecutor(max_workers=sign_ins + 2) as pool:
        devices = [pool.submit(fetch_configs) for _ in range(2)]
        answers = list(pool.map(sign_in, range(sign_ins)))
        stop.set()
        return answers, [t for d in devices for t in d.result()]
