"""Two schools on one collector (issue 13, "Done when"): the other school's admin, leader,
teacher and IT user (and its device) get nothing of the first school from any page or API
route, and nothing they do changes the first school's data.

The routes come from the app's own route table, so a route added later is walked without
editing this test; only a path parameter nobody has named yet fails it, asking for school A's
value for it. Each route is asked with A's real ids, as every one of B's people, on SQLite and
PostgreSQL, in process: a server would answer the same, only slower.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.app import create_app, release
from service.models import AuditEntry, Base, Lesson, School, User
from service.settings import Settings
from service.timetable import parse_holidays
from service.timetable_store import holidays
from service.web import WebSettings, websessions
from service.web.routes.base import SESSION_COOKIE
from tests.support.clock import DEMO_NOW, FakeClock
from tests.support.collector import summary
from tests.support.databases import DemoDatabase
from tests.web.two_schools import (
    A_GROUP,
    B_GROUP,
    B_PASSWORD,
    B_ROLES,
    SchoolA,
    SchoolB,
    add_school_b,
    changes,
    holiday_file,
    owned_by,
    plant_canaries,
    snapshot,
)

WRITES = {"POST", "PUT", "DELETE", "PATCH"}
DAY = DEMO_NOW.date()
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


class InProcess:
    """A client that calls the app in this process through httpx's ASGI transport: no server,
    no lifespan (so no purge or sync thread beside the walk), and no cookie kept between
    requests (each request says who sends it)."""

    def __init__(self, app: FastAPI) -> None:
        self._loop = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        self._client.cookies.clear()
        return self._loop.run(self._client.request(method, path, **kw))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def close(self) -> None:
        self._loop.run(self._client.aclose())
        self._loop.close()


@dataclass
class Two:
    app: FastAPI
    client: InProcess
    sessions: sessionmaker[Session]
    a: SchoolA
    b: SchoolB


@pytest.fixture
def two(demo_db: DemoDatabase, web_clock: FakeClock) -> Iterator[Two]:
    """The demo school with its canaries as A, a second school B beside it, served in process."""
    app = create_app(
        Settings(db=demo_db.url, purge_interval_seconds=0, timetable_sync_seconds=0),
        clock=web_clock,
        web=WebSettings(demo=True),
    )
    sessions = app.state.runtime.sessions
    with sessions.begin() as session:
        a = plant_canaries(
            session,
            now=DEMO_NOW,
            lesson_in_progress=demo_db.school.lesson_in_progress,
            device_tokens=demo_db.school.device_tokens,
        )
        b = add_school_b(session, now=DEMO_NOW)
    client = InProcess(app)
    yield Two(app, client, sessions, a, b)
    client.close()
    _wait_for_background()
    release(app)


def path_ids(a: SchoolA) -> dict[str, tuple[str, str]]:
    """For every path parameter a route takes, by its name: school A's value, and a value of
    the same form that nothing has (B must not be able to tell the two apart)."""
    return {
        "lesson_id": (a.lesson_id, "l_nothing"),
        "lid": (a.lesson_id, "l_nothing"),
        "pid": (str(a.permission_id), "987654"),
        "device_id": (a.device_id, "d_nothing"),
        "user_id": (str(a.user_id), "987654"),
        "chat_id": (str(a.chat_id), "987654"),
        "cid": (str(a.chat_id), "987654"),
        "sid": (str(a.source_id), "987654"),
        "uid": (a.upload_id, "u_nothing"),
        "code_id": (str(a.code_id), "987654"),
    }


def query_ids(a: SchoolA) -> dict[str, str]:
    """A's values for the query parameters pages read (a second request of every GET carries
    them). ``school`` is left out: ``/privacy?school=NAME`` is public by design."""
    return {"group": A_GROUP, "week": a.week, "before": "999999999", "region": "midden"}


def form_fields(a: SchoolA) -> list[tuple[str, str]]:
    """One form for every page action: A's names wherever a field names something."""
    day = date.fromisoformat(a.week) + timedelta(days=1)
    return [
        ("group", A_GROUP),
        ("label", "b-label"),
        ("username", "b-nieuw"),
        ("role", "teacher"),
        ("password", "lang genoeg wachtwoord"),
        ("email", "b-nieuw@school-b.example"),
        ("disabled", "1"),
        ("category", "social_media"),
        ("note", "notitie van B"),
        ("reason", "een reden van school B"),
        ("day", day.isoformat()),
        ("start", "10:00"),
        ("end", "10:50"),
        ("teacher", "devries"),
        ("room", "B12"),
        ("remote", "1"),
        ("cancelled", "1"),
        ("uses", "3"),
        ("days", "3"),
        ("override", ""),
        ("retention_days", "28"),
        ("audit_retention_days", "365"),
        ("disclosure", "pseudonymous"),
        ("admin_disclosure", "pseudonymous"),
        ("small_count_threshold", "1"),
        ("closed_platform", ""),
        ("kind", "ical_url"),
        ("name", "b-bron"),
        ("source", "b-bron"),
        ("secret", "http://127.0.0.1:9/b.ics"),
        ("interval", "0"),
        ("region", "midden"),
        ("advised", "1"),
        ("url", ""),
        ("lang", "nl"),
        ("first", (day - timedelta(days=60)).isoformat()),
        ("last", (day + timedelta(days=60)).isoformat()),
        ("day0", "08:30-09:20 rekenen"),
        ("platform", "signal"),
        ("account", "school"),
        ("purposes", "homework"),
        ("pupils_in_class", "28"),
        ("pupils_in_chat", "28"),
        ("youngest_age", "14"),
        ("parental_consent", "1"),
        ("alternative", "mail"),
    ]


# What an upload form reads besides its file (a multipart form may have 20 fields at most).
UPLOAD_FIELDS = ("group", "source", "mapping", "url")


def json_body(path: str, a: SchoolA) -> dict[str, Any]:
    """What an API write is sent: about A's lesson where it takes one, else a valid chat."""
    if path.endswith("/agent/enroll"):
        return {"code": "AAAA-BBBB-CCCC", "platform": "linux", "agent_version": "0.1.0"}
    if path.endswith("/agent/reports"):
        return {"reports": [summary(a.lesson_id)]}
    if path.endswith("/groupchats/school"):
        return {"closed_platform": None}
    return {
        "group": A_GROUP,
        "platform": "signal",
        "account": "school",
        "purposes": ["homework"],
        "pupils_in_class": 28,
        "pupils_in_chat": 27,
        "youngest_age": 14,
        "parental_consent": True,
        "alternative": "mail",
    }


@dataclass(frozen=True)
class Route:
    path: str  # with A's ids filled in
    template: str
    methods: frozenset[str]
    nothing: str  # with ids nothing has

    @property
    def takes_ids(self) -> bool:
        return self.path != self.template

    @property
    def api(self) -> bool:
        return self.template.startswith("/api/")


def routes(app: FastAPI, a: SchoolA) -> list[Route]:
    """Every HTTP route of the app with A's ids in its path; an unknown parameter fails."""
    ids = path_ids(a)
    found = []
    for route in iter_route_contexts(app.routes):
        if not route.methods or route.path is None:
            continue  # a mount (the static files): no route of its own
        names = _PARAM.findall(route.path)
        unknown = [n for n in names if n not in ids]
        if unknown:
            pytest.fail(
                f"{route.path} takes {', '.join(unknown)}: add school A's value for it to "
                "path_ids() in tests/web/test_two_schools.py"
            )
        path = _PARAM.sub(lambda m: ids[m.group(1)][0], route.path)
        nothing = _PARAM.sub(lambda m: ids[m.group(1)][1], route.path)
        found.append(Route(path, route.path, frozenset(route.methods), nothing))
    assert len(found) > 40, "the route table was not read"
    return found


@dataclass(frozen=True)
class Who:
    """One of B's people (or B's device) and how they send a request."""

    name: str
    bearer: str | None = None  # the API token, or the device token
    user: str | None = None  # the user name, for a web session


def b_people(b: SchoolB) -> list[Who]:
    people = [Who(name, bearer=b.user_tokens[name], user=name) for name in B_ROLES]
    return [*people, Who("b-device", bearer=b.device_token)]


def web_session(two: Two, username: str) -> tuple[str, str]:
    """A fresh signed-in browser session of ``username``: its cookie token and CSRF token."""
    with two.sessions.begin() as session:
        user = session.scalars(
            select(User).where(User.username == username, User.school_id == two.b.school_id)
        ).one()
        token, ws = websessions.start(session, user=user, now=DEMO_NOW, minutes=60)
        return token, ws.csrf


def leaked(canaries: set[str], asked: str, answer: httpx.Response) -> list[str]:
    """A's canaries in an answer (body or redirect), except those the request itself named:
    an id echoed back in "no such lesson 'l_…'" tells the asker nothing new."""
    text = answer.text + " " + answer.headers.get("location", "")
    return sorted(c for c in canaries if c in text and c not in asked)


def _wait_for_background() -> None:
    """A page's import or sync runs in a thread of its own: let those finish."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.name.startswith("timetable"):
            thread.join(30)


def _ask(two: Two, who: Who, method: str, route: Route, **kw: Any) -> tuple[str, httpx.Response]:
    """Send one request as ``who``; returns the request as text (for ``leaked``) and the answer."""
    client = two.client
    headers = dict(kw.pop("headers", {}))
    if route.api:
        headers["Authorization"] = f"Bearer {who.bearer}"
    else:
        assert who.user is not None
        token, csrf = web_session(two, who.user)
        headers["Cookie"] = f"{SESSION_COOKIE}={token}"
        if method in WRITES:
            kw["data"] = [*kw.get("data", []), ("csrf", csrf)]
    fields: dict[str, list[str]] = {}
    for name, value in kw.get("data", []):
        fields.setdefault(name, []).append(value)
    sending = {**kw, "data": fields} if "data" in kw else kw
    answer = client.request(method, route.path, headers=headers, **sending)
    sent = (kw.get("params", {}), kw.get("data", []), kw.get("json", {}))
    asked = " ".join([route.path, *(json.dumps(part) for part in sent)])
    return asked, answer


def test_every_table_has_an_owner() -> None:
    """The snapshot of a school covers every table: a new table must say whose rows are whose."""
    assert set(owned_by(1)) == set(Base.metadata.tables)


def test_the_other_school_gets_nothing_of_the_first(two: Two) -> None:
    """Every GET route, as page and as JSON, bare and with A's ids in the query: no canary of A
    in any answer to B's admin, leader, teacher, IT user or device, and no 5xx. Not even that
    an id is taken: A's ids get the same status as ids nothing has."""
    a = two.a
    with two.sessions.begin() as session:
        before = snapshot(session, a.school_id)
    problems = []
    for route in routes(two.app, a):
        if "GET" not in route.methods:
            continue
        for who in b_people(two.b):
            if (route.api and who.bearer is None) or (not route.api and who.user is None):
                continue
            variants: list[dict[str, Any]] = [
                {"headers": {"Accept": "application/json"}},
                {"headers": {"Accept": "application/json"}, "params": query_ids(a)},
                {"headers": {"Accept": "text/html"}, "params": query_ids(a)},
            ]
            statuses = []
            for variant in variants:
                asked, answer = _ask(two, who, "GET", route, **variant)
                statuses.append(answer.status_code)
                found = leaked(a.canaries, asked, answer)
                if found or answer.status_code >= 500:
                    problems.append((route.path, who.name, answer.status_code, found[:5]))
            if route.takes_ids:
                nothing = replace(route, path=route.nothing)
                _, unknown = _ask(two, who, "GET", nothing, **variants[0])
                if unknown.status_code != statuses[0]:
                    told = f"{statuses[0]} for A's ids, {unknown.status_code} for none"
                    problems.append((route.path, who.name, told, []))
    assert problems == []
    with two.sessions.begin() as session:
        assert changes(before, snapshot(session, a.school_id)) == {}


def test_nothing_the_other_school_does_changes_the_first(two: Two) -> None:
    """Every write route (form posts with a valid CSRF token, API writes with a token), sent
    with A's ids by each of B's people: A's rows are the same after each route as before, and
    no answer carries a canary of A."""
    a = two.a
    problems = []
    # Nothing writes between one route's check and the next route: the snapshot after a route
    # is the one before the next. One snapshot a route instead of two: 6.9 -> 5.1 CPU-s.
    with two.sessions.begin() as session:
        before = snapshot(session, a.school_id)
    for route in routes(two.app, a):
        for method in sorted(route.methods & WRITES):
            for who in b_people(two.b):
                if route.api:
                    asked, answer = _ask(two, who, method, route, json=json_body(route.path, a))
                elif who.user is None:
                    continue
                else:
                    asked, answer = _ask(two, who, method, route, data=form_fields(a))
                    if answer.status_code == 415:  # a file upload: multipart, its few fields
                        files = {"file": ("b.json", holiday_file("B-vakantie", DAY, DAY))}
                        fields = [f for f in form_fields(a) if f[0] in UPLOAD_FIELDS]
                        asked, answer = _ask(two, who, method, route, data=fields, files=files)
                found = leaked(a.canaries, asked, answer)
                if found or answer.status_code >= 500:
                    problems.append((method, route.path, who.name, answer.status_code, found[:5]))
            _wait_for_background()
            with two.sessions.begin() as session:
                after = snapshot(session, a.school_id)
            if changed := changes(before, after):
                problems.append((method, route.path, "changed A", changed))
            before = after
    assert problems == []


def _a_config_cancelled(two: Two) -> dict[str, bool]:
    answer = two.client.get(
        "/api/v1/agent/config", headers={"Authorization": f"Bearer {two.a.device_token}"}
    )
    assert answer.status_code == 200, answer.text
    return {lesson["id"]: lesson["cancelled"] for lesson in answer.json()["lessons"]}


def test_a_holiday_file_of_the_other_school_cancels_nothing_of_the_first(two: Two) -> None:
    """B's admin imports a holiday over today: B's lessons are off, A's devices, pages and
    listing still have A's lessons on, and A's shared national holidays stay as they were."""
    a, b = two.a, two.b
    autumn = date(2027, 10, 18)
    with two.sessions.begin() as session:
        shared = parse_holidays(holiday_file("Herfst landelijk", autumn, autumn, year="2027-2028"))
        holidays.store(session, shared, school_id=holidays.SHARED, region=None)
    configs_before = _a_config_cancelled(two)  # A's device is seen now: last_seen is written
    assert configs_before and not any(configs_before.values())
    with two.sessions.begin() as session:
        before = snapshot(session, a.school_id)
    token, csrf = web_session(two, "b-beheer")
    answer = two.client.post(
        "/admin/timetable/holidays/import",
        data={"csrf": csrf},
        files={"file": ("b.json", holiday_file("Vakantie van B", DAY, DAY))},
        headers={"Cookie": f"{SESSION_COOKIE}={token}", "Accept": "application/json"},
    )
    assert answer.status_code == 200 and answer.json()["ok"], answer.text
    assert _a_config_cancelled(two) == configs_before
    with two.sessions.begin() as session:
        after = snapshot(session, a.school_id)
        school_a = session.get_one(School, a.school_id)
        school_b = session.get_one(School, b.school_id)
        a_today = session.query(Lesson).filter(Lesson.school_id == a.school_id).all()
        b_today = [session.get_one(Lesson, b.lesson_id)]
        assert holidays.in_holiday(session, school_a, a_today) == {}
        assert holidays.in_holiday(session, school_b, b_today) == {b.lesson_id: "Vakantie van B"}
    assert changes(before, after) == {}
    week = two.client.get(
        f"/admin/timetable/week?group={B_GROUP}",
        headers={
            "Cookie": f"{SESSION_COOKIE}={web_session(two, 'b-beheer')[0]}",
            "Accept": "application/json",
        },
    ).json()
    marked = [lesson["holiday"] for day in week["days"] for lesson in day["lessons"]]
    assert "Vakantie van B" in marked
    # B's holidays page: its own file for 2026-2027, the shared holiday of 2027-2028 marked so.
    cookie = {"Cookie": f"{SESSION_COOKIE}={web_session(two, 'b-beheer')[0]}"}
    page = two.client.get(
        "/admin/timetable/holidays", headers={**cookie, "Accept": "application/json"}
    ).json()
    assert [(h["name"], h["shared"]) for h in page["holidays"]] == [
        ("Vakantie van B", False),
        ("Herfst landelijk", True),
    ]
    assert "(landelijk)" in two.client.get("/admin/timetable/holidays", headers=cookie).text


def test_the_other_schools_people_sign_in_to_their_own_school(two: Two) -> None:
    """B's people sign in with the form; each sign-in is in B's audit log, none in A's."""
    with two.sessions.begin() as session:
        before = snapshot(session, two.a.school_id)
    for username in B_ROLES:
        page = two.client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        answer = two.client.post(
            "/signin",
            data={"username": username, "password": B_PASSWORD, "csrf": csrf.group(1)},
            headers={"Cookie": f"{SESSION_COOKIE}={page.cookies[SESSION_COOKIE]}"},
        )
        assert answer.status_code == 303, answer.text
    with two.sessions.begin() as session:
        signins = session.scalars(select(AuditEntry).where(AuditEntry.action == "signin")).all()
        assert sorted((e.actor, e.school_id) for e in signins) == sorted(
            (f"user:{name}", two.b.school_id) for name in B_ROLES
        )
        assert changes(before, snapshot(session, two.a.school_id)) == {}
