"""Helpers for the web-page tests: the demo school on a real collector served by uvicorn, and
a browser-like HTTP client that signs in and sends forms with their CSRF token.

The demo school comes from a seeded template database (``tests.support.databases``), so a test
pays for a file copy, not for seeding."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy.orm import Session, sessionmaker

from service.app import create_app
from service.demo import data as demo_data
from service.demo.data import DemoSchool
from service.settings import Settings
from service.web import WebSettings
from tests.support.clock import DEMO_NOW, FakeClock
from tests.support.collector import Live, live_server
from tests.support.databases import DemoDatabase

# 10:45 in Amsterdam on the school day: a lesson in progress.
NOW = DEMO_NOW
TIMEOUT = 10
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Demo:
    live: Live
    school: DemoSchool
    sessions: sessionmaker[Session]
    clock: FakeClock

    @property
    def url(self) -> str:
        return self.live.url

    def other_lesson(self, teacher: str) -> str:
        """A lesson in progress or done today that ``teacher`` does not teach."""
        from service.models import Lesson, User

        with self.sessions.begin() as s:
            user = s.query(User).filter_by(username=teacher).one()
            row = (
                s.query(Lesson).filter(Lesson.teacher_id != user.id).order_by(Lesson.start).first()
            )
            assert row is not None
            return row.id


class Browser:
    """A requests session that behaves like a browser on the pages: cookies, CSRF tokens."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=TIMEOUT, allow_redirects=False, **kw)

    def json(self, path: str) -> requests.Response:
        return self.get(path, headers={"Accept": "application/json"})

    def csrf(self, path: str = "/signin") -> str:
        page = self.http.get(self.base + path, timeout=TIMEOUT)
        found = _CSRF.search(page.text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(
        self,
        path: str,
        data: dict[str, Any] | list[tuple[str, str]],
        *,
        csrf_from: str | None = "/lessons",
        **kw: Any,
    ) -> requests.Response:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf_from is not None:
            fields.append(("csrf", self.csrf(csrf_from)))
        return self.http.post(
            self.base + path, data=fields, timeout=TIMEOUT, allow_redirects=False, **kw
        )

    def sign_in(self, username: str, password: str | None = None) -> requests.Response:
        password = password or demo_data.PASSWORDS[username][1]
        answer = self.post(
            "/signin", {"username": username, "password": password}, csrf_from="/signin"
        )
        return answer


def start_demo(database: DemoDatabase, clock: FakeClock, web: WebSettings) -> Iterator[Demo]:
    """Serve the seeded demo database; the clock must still read the moment it was seeded at."""
    assert clock() == DEMO_NOW, "the demo template was seeded at DEMO_NOW"
    app = create_app(Settings(db=database.url, purge_interval_seconds=0), clock=clock, web=web)
    rt = app.state.runtime
    with live_server(app) as live:
        yield Demo(live, database.school, rt.sessions, clock)


def allow_fetching_from(demo: Demo, host: str) -> None:
    """Let this collector fetch from ``host`` (a stand-in on loopback), which it refuses by
    default: the test says so, as an operator would with ``fetch_allow_hosts``."""
    rt = demo.live.app.state.runtime
    rt.settings = rt.settings.model_copy(update={"fetch_allow_hosts": host})


def signed_in(demo: Demo, username: str) -> Browser:
    browser = Browser(demo.url)
    answer = browser.sign_in(username)
    assert answer.status_code == 303, answer.text
    return browser
