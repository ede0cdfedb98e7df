"""Helpers for the web-page tests: the demo school on a real collector served by uvicorn, and
a browser-like HTTP client that signs in and sends forms with their CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from collector_helpers import FakeClock, Live, live_server
from sqlalchemy.orm import Session, sessionmaker

from service import demo_data
from service.app import create_app
from service.demo_data import DemoSchool
from service.settings import Settings
from service.web import WebSettings

# Tuesday 24 November 2026, 10:45 in Amsterdam: a school day with a lesson in progress.
NOW = datetime(2026, 11, 24, 9, 45, tzinfo=UTC)
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


def start_demo(db_url: str, clock: FakeClock, web: WebSettings) -> Iterator[Demo]:
    app = create_app(Settings(db=db_url, purge_interval_seconds=0), clock=clock, web=web)
    rt = app.state.runtime
    with rt.sessions.begin() as session:
        school = demo_data.seed(session, now=clock())
    with live_server(app) as live:
        yield Demo(live, school, rt.sessions, clock)


def signed_in(demo: Demo, username: str) -> Browser:
    browser = Browser(demo.url)
    answer = browser.sign_in(username)
    assert answer.status_code == 303, answer.text
    return browser
