"""Every operation offered by more than one surface gives the same outcome through each of them.

The table ``CASES`` lists, per operation, how each surface that offers it runs it: the command
line (``main([...])`` as the operator of the demo school), the pages (the Browser helper, JSON
answers) and the JSON API (a bearer token). For every case and surface the test first calls the
operation itself, with the surface's actor, in a transaction it rolls back: that is the
reference. Then it goes through the surface and asserts the same answer (done, or refused for
the same reason), the same state afterwards, and the same audit entries: exactly one, in the
one format, for what is done, none for what is refused. Reports are read through every surface
in one database and must show the same numbers, small counts suppressed, for every role.

The command line always acts as the demo school's operator (an admin of it, ``cli`` in the
audit log); the pages and the API act as its admin ``beheer`` for the same operations, so role
and school are the same and only the audit name differs, each written by ``Actor.audit_name``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts import users
from service.actors import Actor
from service.cli.main import main
from service.demo import data as demo_data
from service.devices import registry as device_registry
from service.devices import subject_access
from service.errors import ServiceError
from service.lessons import permissions
from service.lessons import records as lessons
from service.models import (
    ApiToken,
    AuditEntry,
    Device,
    DeviceLessonSummary,
    Group,
    Lesson,
    Permission,
    School,
    User,
)
from service.reports.lesson_report import lesson_report
from service.schools import settings as school_settings
from tests.support.actors import operator_for
from tests.support.databases import DemoDatabase
from tests.support.web import TIMEOUT, Browser, Demo, signed_in

JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class Answer:
    """What a surface said: done or refused, what it printed or sent back, and why it refused
    (the error code of a page or the API, the message of the command line)."""

    ok: bool
    body: Any = None
    refusal: str | None = None


@dataclass
class Surfaces:
    """The three ways in, on one running demo school."""

    demo: Demo
    db_url: str
    capsys: pytest.CaptureFixture[str]
    _browsers: dict[str, Browser] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    def school(self, session: Session) -> School:
        return session.scalars(select(School).where(School.name == demo_data.SCHOOL)).one()

    def actor(self, surface: str, username: str) -> Actor:
        with self.demo.sessions() as session:
            if surface == "cli":
                return Actor.operator(self.school(session))
            return Actor.of_user(users.by_username(session, username, school=self.school(session)))

    def cli(self, *argv: str, stdin: str = "") -> Answer:
        self.capsys.readouterr()
        with _stdin(stdin):
            code = main(
                [*argv, "--db", self.db_url, "--school", demo_data.SCHOOL], clock=self.demo.clock
            )
        out, err = self.capsys.readouterr()
        return Answer(code == 0, out, err.strip() or None)

    def token(self, username: str) -> str:
        """A personal API token, made before the reference so its audit line is not counted."""
        if username not in self._tokens:
            with self.demo.sessions.begin() as session:
                user = users.by_username(session, username, school=self.school(session))
                self._tokens[username] = users.create_token(
                    session, actor=operator_for(user), user=user, now=self.demo.clock()
                )
        return self._tokens[username]

    def api_get(self, username: str, path: str) -> Answer:
        headers = {"Authorization": f"Bearer {self.token(username)}"}
        return _answer(requests.get(self.demo.url + path, headers=headers, timeout=TIMEOUT))

    def browser(self, username: str) -> Browser:
        if username not in self._browsers:
            self._browsers[username] = signed_in(self.demo, username)
        return self._browsers[username]

    def page_get(self, username: str, path: str) -> Answer:
        return _answer(self.browser(username).json(path))

    def page_post(
        self, username: str, path: str, form: list[tuple[str, str]], csrf_from: str
    ) -> Answer:
        return _answer(self.browser(username).post(path, form, csrf_from=csrf_from, headers=JSON))

    def ready(self, surface: str, username: str) -> None:
        """Sign in or make a token now: both write audit lines of their own."""
        if surface == "page":
            self.browser(username)
        elif surface == "api":
            self.token(username)


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    """What the command reads on standard input (``users add`` reads the password there)."""
    saved, sys.stdin = sys.stdin, io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def _answer(response: requests.Response) -> Answer:
    body = response.json()
    if response.status_code == 200:
        return Answer(True, body)
    return Answer(False, None, body["error"]["code"])


Target = dict[str, Any]
Run = Callable[[Surfaces, str, Target], Answer]


Prepare = Callable[[Session, School, datetime], Target]


@dataclass(frozen=True)
class Case:
    """One operation on one kind of target, and how each surface offering it runs it."""

    name: str
    action: str  # what the audit log calls the operation
    obj: str  # the audit entry's object, formatted with the target
    done: bool  # done (one audit entry) or refused (none)
    prepare: Prepare
    core: Callable[[Session, Actor, Target, datetime], object]
    surfaces: Mapping[str, Run]
    observe: Callable[[Session, Target], Any]
    user: str = "beheer"  # who acts on the page and the API (the operator's role: admin)
    result_on: frozenset[str] = frozenset()  # surfaces whose answer is the operation's result


# --- targets ---------------------------------------------------------------------------------


def _lesson(session: Session, now: datetime, *, over: bool) -> Lesson:
    """A lesson of devries's group 3B: the one in progress, or the last one that is over."""
    query = select(Lesson).join(Group, Group.id == Lesson.group_id).where(Group.name == "3B")
    if over:
        query = query.where(Lesson.end <= now)
    else:
        query = query.where(Lesson.start <= now, Lesson.end > now)
    found = session.scalars(query.order_by(Lesson.start.desc())).first()
    assert found is not None
    return found


def open_lesson(session: Session, _school: School, now: datetime) -> Target:
    return {"lesson": _lesson(session, now, over=False).id}


def lesson_over(session: Session, _school: School, now: datetime) -> Target:
    return {"lesson": _lesson(session, now, over=True).id}


def granted(session: Session, _school: School, now: datetime) -> Target:
    lesson = _lesson(session, now, over=False)
    permission = lessons.grant_permission(
        session, lesson=lesson, categories=["social_media"], now=lesson.start
    )
    return {"lesson": lesson.id, "permission": permission.id}


def seeded_permission(session: Session, _school: School, _now: datetime) -> Target:
    """The demo's one permission, on a lesson that is over."""
    permission = session.scalars(select(Permission)).one()
    return {"lesson": permission.lesson_id, "permission": permission.id}


def busiest_device(session: Session, school: School, _now: datetime) -> Target:
    device_id = session.scalars(
        select(DeviceLessonSummary.device_id)
        .join(Device, Device.id == DeviceLessonSummary.device_id)
        .where(Device.school_id == school.id)
        .group_by(DeviceLessonSummary.device_id)
        .order_by(func.count().desc(), DeviceLessonSummary.device_id)
    ).first()
    assert device_id is not None
    return {"device": device_id}


def retired_device(session: Session, school: School, now: datetime) -> Target:
    target = busiest_device(session, school, now)
    session.get_one(Device, target["device"]).retired = True
    return target


def no_device(_session: Session, _school: School, _now: datetime) -> Target:
    return {"device": "d_nothing"}


def a_teacher(session: Session, school: School, _now: datetime) -> Target:
    user = users.by_username(session, "devries", school=school)
    return {"user": user.username, "user_id": str(user.id)}


def no_user(_session: Session, _school: School, _now: datetime) -> Target:
    return {"user": "niemand", "user_id": "999999"}


def a_new_user(_session: Session, _school: School, _now: datetime) -> Target:
    return {"user": "nieuwe-docent"}


def the_school(_session: Session, school: School, _now: datetime) -> Target:
    return {"school": school.id, "settings": _settings(school)}


def _settings(school: School) -> dict[str, str]:
    """The school form as it is: the page sends the whole form."""
    return {
        "retention_days": str(school.retention_days),
        "audit_retention_days": str(school.audit_retention_days),
        "disclosure": school.disclosure,
        "admin_disclosure": school.admin_disclosure,
        "small_count_threshold": str(school.small_count_threshold),
    }


# --- what changed ----------------------------------------------------------------------------


def lesson_permissions(session: Session, target: Target) -> list[tuple[Any, ...]]:
    return [
        (list(p.categories), p.note, p.granted_by, p.withdrawn_at)
        for p in lessons.permissions_for(session, [target["lesson"]])
    ]


def device_state(session: Session, target: Target) -> tuple[Any, ...]:
    device = session.get(Device, target["device"])
    summaries = session.scalar(
        select(func.count())
        .select_from(DeviceLessonSummary)
        .where(DeviceLessonSummary.device_id == target["device"])
    )
    return (None if device is None else device.retired, summaries)


def user_state(session: Session, target: Target) -> tuple[Any, ...]:
    """The user (role, e-mail) and how many API tokens it has in force."""
    user = session.scalars(select(User).where(User.username == target["user"])).first()
    if user is None:
        return (None,)
    tokens = session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    return (user.role, user.email, tokens)


def school_state(session: Session, target: Target) -> tuple[Any, ...]:
    school = session.get_one(School, target["school"])
    return (
        school.retention_days,
        school.audit_retention_days,
        school.disclosure,
        school.admin_disclosure,
        school.small_count_threshold,
    )


# --- the operations and how each surface runs them -------------------------------------------


def grant_case(name: str, prepare: Prepare, category: str, *, done: bool) -> Case:
    note = "Instagram-opdracht"
    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: permissions.grant(
            s, actor=actor, lesson_id=t["lesson"], categories=[category], note=note, now=now
        ),
        surfaces={
            "cli": lambda x, _u, t: x.cli(
                "permissions", "grant", t["lesson"], "--categories", category, "--note", note
            ),
            "page": lambda x, u, t: x.page_post(
                u,
                f"/lessons/{t['lesson']}/permissions",
                [("category", category), ("note", note)],
                "/lessons",
            ),
        },
        observe=lesson_permissions,
        action="permission.grant",
        obj="lesson:{lesson}",
        done=done,
    )


def withdraw_case(name: str, prepare: Prepare, *, done: bool) -> Case:
    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: permissions.withdraw(
            s, actor=actor, lesson_id=t["lesson"], permission_id=t["permission"], now=now
        ),
        surfaces={
            "cli": lambda x, _u, t: x.cli(
                "permissions", "withdraw", t["lesson"], str(t["permission"])
            ),
            "page": lambda x, u, t: x.page_post(
                u, f"/lessons/{t['lesson']}/permissions/{t['permission']}/withdraw", [], "/lessons"
            ),
        },
        observe=lesson_permissions,
        action="permission.withdraw",
        obj="lesson:{lesson}",
        done=done,
    )


def _device_post(action: str) -> Run:
    return lambda x, u, t: x.page_post(
        u, f"/admin/devices/{t['device']}/{action}", [], "/admin/devices"
    )


def retire_case(name: str, prepare: Prepare, *, done: bool) -> Case:
    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: device_registry.retire(
            s, actor=actor, device_id=t["device"], now=now
        ),
        surfaces={
            "cli": lambda x, _u, t: x.cli("devices", "retire", t["device"]),
            "page": _device_post("retire"),
        },
        observe=device_state,
        action="device.retire",
        obj="device:{device}",
        done=done,
    )


def export_case(name: str, prepare: Prepare, *, done: bool) -> Case:
    def cli(x: Surfaces, _u: str, t: Target) -> Answer:
        answer = x.cli("devices", "export", t["device"])
        return replace(answer, body=json.loads(answer.body)) if answer.ok else answer

    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: subject_access.export_device(
            s, actor=actor, device_id=t["device"], now=now
        ),
        surfaces={"cli": cli, "page": _device_post("export")},
        observe=device_state,
        action="device.export",
        obj="device:{device}",
        done=done,
        result_on=frozenset({"cli", "page"}),  # the JSON download is the export
    )


def erase_case(name: str, prepare: Prepare, *, done: bool) -> Case:
    def cli(x: Surfaces, _u: str, t: Target) -> Answer:
        answer = x.cli("devices", "erase", t["device"])
        return replace(answer, body=int(answer.body)) if answer.ok else answer

    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: subject_access.erase_device(
            s, actor=actor, device_id=t["device"], now=now
        ),
        surfaces={
            "cli": cli,
            "page": _device_post("erase"),
        },
        observe=device_state,
        result_on=frozenset({"cli"}),  # how many summaries were deleted
        action="device.erase",
        obj="device:{device}",
        done=done,
    )


def setting_case(name: str, setting: str, days: int, *, done: bool) -> Case:
    """``setting`` is a field of the school form and of ``schools.settings.Changes``; the
    command's option is its name with dashes."""
    return Case(
        name=name,
        prepare=the_school,
        core=lambda s, actor, _t, now: school_settings.change(
            s, actor=actor, changes=school_settings.Changes(**{setting: days}), now=now
        ),
        surfaces={
            "cli": lambda x, _u, _t: x.cli(
                "schools", "set", f"--{setting.replace('_', '-')}", str(days)
            ),
            "page": lambda x, u, t: x.page_post(
                u,
                "/admin/school",
                list({**t["settings"], setting: str(days)}.items()),
                "/admin/school",
            ),
        },
        observe=school_state,
        action="school.settings",
        obj="school:{school}",
        done=done,
    )


def _user_of(session: Session, actor: Actor, target: Target) -> User:
    """The command line names the user; the page's form is the user's row (by id)."""
    school = session.get_one(School, actor.school_id)
    return users.by_username(session, target["user"], school=school)


# The command's verb, the page's path after /admin/users/{id}/, and the operation.
TOKEN_OPERATIONS = {
    "create": ("tokens", users.create_token),
    "revoke": ("tokens/revoke", users.revoke_tokens),
}


def token_case(name: str, prepare: Prepare, *, verb: str = "create", done: bool) -> Case:
    path, operation = TOKEN_OPERATIONS[verb]
    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: operation(
            s, actor=actor, user=_user_of(s, actor, t), now=now
        ),
        surfaces={
            "cli": lambda x, _u, t: x.cli("tokens", verb, "--username", t["user"]),
            "page": lambda x, u, t: x.page_post(
                u, f"/admin/users/{t['user_id']}/{path}", [], "/admin/users"
            ),
        },
        observe=user_state,
        action=f"token.{verb}",
        obj="user:{user}",
        done=done,
    )


def with_token(session: Session, school: School, now: datetime) -> Target:
    target = a_teacher(session, school, now)
    user = users.by_username(session, target["user"], school=school)
    users.create_token(session, actor=Actor.operator(school), user=user, now=now)
    return target


def user_add_case(name: str, prepare: Prepare, password: str, *, done: bool) -> Case:
    return Case(
        name=name,
        prepare=prepare,
        core=lambda s, actor, t, now: users.add_user(
            s, actor=actor, username=t["user"], role="teacher", password=password, now=now
        ),
        surfaces={
            "cli": lambda x, _u, t: x.cli(
                "users", "add", "--username", t["user"], "--role", "teacher", stdin=password + "\n"
            ),
            "page": lambda x, u, t: x.page_post(
                u,
                "/admin/users",
                [("username", t["user"]), ("role", "teacher"), ("password", password)],
                "/admin/users",
            ),
        },
        observe=user_state,
        action="user.add",
        obj="user:{user}",
        done=done,
    )


CASES = [
    # Done: the same state and one audit entry through every surface.
    grant_case("grant", open_lesson, "social_media", done=True),
    withdraw_case("withdraw", granted, done=True),
    retire_case("retire", busiest_device, done=True),
    export_case("export", busiest_device, done=True),
    erase_case("erase", busiest_device, done=True),
    setting_case("retention", "retention_days", 180, done=True),
    setting_case("audit retention", "audit_retention_days", 730, done=True),
    token_case("token", a_teacher, done=True),
    token_case("revoke tokens", with_token, verb="revoke", done=True),
    user_add_case("add a user", a_new_user, "lang genoeg wachtwoord", done=True),
    # Refused the same way everywhere (the command line used to skip the grant's checks, and the
    # school form allowed ten years of retention).
    grant_case("grant a lesson that is over", lesson_over, "social_media", done=False),
    grant_case("grant a category no permission lifts", open_lesson, "nonsense", done=False),
    grant_case("grant what is in force already", granted, "social_media", done=False),
    withdraw_case("withdraw on a lesson that is over", seeded_permission, done=False),
    retire_case("retire a retired device", retired_device, done=False),
    export_case("export an unknown device", no_device, done=False),
    erase_case("erase an unknown device", no_device, done=False),
    setting_case("retention of ten years", "retention_days", 3650, done=False),
    setting_case("audit retention of a week", "audit_retention_days", 7, done=False),
    token_case("token for nobody", no_user, done=False),
    token_case("revoke the tokens of nobody", no_user, verb="revoke", done=False),
    user_add_case("add a user who exists", a_teacher, "lang genoeg wachtwoord", done=False),
    user_add_case("add a user with a short password", a_new_user, "kort", done=False),
]


def rows(done: bool) -> list[Any]:
    return [
        pytest.param(case, surface, id=f"{case.name}-{surface}")
        for case in CASES
        if case.done is done
        for surface in case.surfaces
    ]


# --- the test --------------------------------------------------------------------------------


def _entries(session: Session, after: int) -> list[tuple[Any, ...]]:
    found = session.scalars(select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id))
    return [(e.actor, e.action, e.object, e.school_id, e.at, e.reason) for e in found]


def _last_entry(session: Session) -> int:
    return session.scalar(select(func.max(AuditEntry.id))) or 0


@dataclass(frozen=True)
class Reference:
    answer: Answer
    observed: Any
    entries: list[tuple[Any, ...]]


def call(
    demo: Demo,
    operation: Callable[[Session, Actor, datetime], object],
    actor: Actor,
    observe: Callable[[Session], Any] = lambda _session: None,
) -> Reference:
    """The operation called directly with ``actor``, then rolled back: what a surface must match."""
    session = demo.sessions()
    try:
        after = _last_entry(session)
        try:
            answer = Answer(True, operation(session, actor, demo.clock()))
            session.flush()
        except ServiceError as exc:
            session.rollback()
            answer = Answer(False, exc, exc.code)
        return Reference(answer, observe(session), _entries(session, after))
    finally:
        session.rollback()
        session.close()


def reference(demo: Demo, case: Case, actor: Actor, target: Target) -> Reference:
    return call(
        demo,
        lambda session, who, now: case.core(session, who, target, now),
        actor,
        lambda session: case.observe(session, target),
    )


@pytest.fixture
def surfaces_of(capsys: pytest.CaptureFixture[str]) -> Callable[[Demo, str], Surfaces]:
    return lambda demo, url: Surfaces(demo, url, capsys)


def run_case(surfaces: Surfaces, case: Case, surface: str) -> None:
    demo = surfaces.demo
    with demo.sessions.begin() as session:
        school = surfaces.school(session)
        school_id = school.id
        target = case.prepare(session, school, demo.clock())
    surfaces.ready(surface, case.user)
    actor = surfaces.actor(surface, case.user)
    expected = reference(demo, case, actor, target)
    with demo.sessions() as session:
        after = _last_entry(session)
        unchanged = case.observe(session, target)

    answer = case.surfaces[surface](surfaces, case.user, target)

    with demo.sessions() as session:
        observed = case.observe(session, target)
        entries = _entries(session, after)
    assert answer.ok is expected.answer.ok, answer
    assert observed == expected.observed
    assert entries == expected.entries
    if not case.done:
        assert not answer.ok and observed == unchanged and entries == []
        refused = expected.answer.body
        if surface == "cli":  # the command says the operation's own reason
            assert answer.refusal == f"lessonwatch-service: {refused.message}"
        else:
            assert answer.refusal == refused.code
        return
    assert observed != unchanged or case.action == "device.export"
    at = demo.clock()
    assert entries == [
        (actor.audit_name, case.action, case.obj.format(**target), school_id, at, None)
    ]
    if surface in case.result_on:
        assert answer.body == expected.answer.body


@pytest.mark.parametrize(("case", "surface"), rows(done=True))
def test_an_operation_is_the_same_through_every_surface(
    demo: Demo,
    demo_db: DemoDatabase,
    surfaces_of: Callable[[Demo, str], Surfaces],
    case: Case,
    surface: str,
) -> None:
    """Done through any surface, an operation leaves the state the operation itself leaves and
    one audit entry naming the surface's actor, on SQLite and PostgreSQL."""
    run_case(surfaces_of(demo, demo_db.url), case, surface)


@pytest.mark.parametrize(("case", "surface"), rows(done=False))
def test_a_refusal_is_the_same_through_every_surface(
    demo_sqlite: Demo,
    demo_db_sqlite: DemoDatabase,
    surfaces_of: Callable[[Demo, str], Surfaces],
    case: Case,
    surface: str,
) -> None:
    """What the operation refuses, every surface refuses, changing nothing and auditing nothing."""
    run_case(surfaces_of(demo_sqlite, demo_db_sqlite.url), case, surface)


# --- reports: the same numbers for the same role, small counts suppressed ---------------------


def numbers(report: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of a report, from the report JSON or the page's JSON (which adds labels)."""
    keys = ("category", "family", "devices", "seconds")

    def counted(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: r[k] for k in keys if k in r} for r in found]

    return {
        "devices_expected": report["devices_expected"],
        "devices_reporting": report["devices_reporting"],
        "suppressed_below": report["suppressed_below"],
        "source": report["source"],
        "coverage": report["coverage"],
        "categories": counted(report["categories"]),
        "families": counted(report["families"]),
        "timeline": [
            {"start": b["start"], "categories": counted(b["categories"])}
            for b in report["timeline"]
        ],
    }


def report_surfaces(lesson: str) -> dict[str, Run]:
    return {
        "cli": lambda x, _u, _t: Answer(
            (a := x.cli("report", lesson, "--json")).ok, json.loads(a.body) if a.ok else None
        ),
        "api": lambda x, u, _t: x.api_get(u, f"/api/v1/lessons/{lesson}/report"),
        "page": lambda x, u, _t: x.page_get(u, f"/lessons/{lesson}"),
    }


@pytest.mark.parametrize(
    ("username", "through", "allowed"),
    [
        # Admins: the operator at the command line is one too.
        ("beheer", ("cli", "api", "page"), True),
        ("leiding", ("api", "page"), True),
        # The lesson's own teacher.
        ("devries", ("api", "page"), True),
        # Another teacher: refused everywhere, nothing audited.
        ("jansen", ("api", "page"), False),
    ],
)
def test_a_report_reads_the_same_through_every_surface(
    demo: Demo,
    demo_db: DemoDatabase,
    surfaces_of: Callable[[Demo, str], Surfaces],
    username: str,
    through: tuple[str, ...],
    allowed: bool,
) -> None:
    """The report page, its JSON, the JSON API and ``report --json`` show one role the same
    numbers, with counts of one or two devices suppressed for every role, and each view is one
    audit entry naming who looked."""
    surfaces = surfaces_of(demo, demo_db.url)
    lesson = demo.school.lesson_in_progress
    with demo.sessions() as session:
        school_id = surfaces.school(session).id
    for surface in through:
        surfaces.ready(surface, username)
    expected = call(
        demo,
        lambda session, actor, now: lesson_report(session, lesson_id=lesson, actor=actor, now=now),
        surfaces.actor("page", username),
    )
    assert expected.answer.ok is allowed
    for surface in through:
        actor = surfaces.actor(surface, username)
        with demo.sessions() as session:
            after = _last_entry(session)
        answer = report_surfaces(lesson)[surface](surfaces, username, {})
        with demo.sessions() as session:
            entries = _entries(session, after)
        assert answer.ok is allowed, (surface, answer)
        if not allowed:
            assert entries == [], surface
            continue
        assert entries == [
            (actor.audit_name, "report.view", f"lesson:{lesson}", school_id, demo.clock(), None)
        ], surface
        shown = numbers(answer.body)
        assert shown == numbers(expected.answer.body), surface
        counted = [*shown["categories"], *shown["families"]]
        counted += [c for b in shown["timeline"] for c in b["categories"]]
        assert shown["suppressed_below"] == 3
        assert any(r["devices"] is None for r in counted), "the demo has counts of 1-2 devices"
        assert all(r["devices"] is None or r["devices"] >= 3 for r in counted), surface
        assert all((r["devices"] is None) == (r["seconds"] is None) for r in counted), surface


def test_the_table_covers_every_shared_operation() -> None:
    """Each operation offered by more than one surface has a row done and a row refused, and
    each row runs through the command line and the pages."""
    shared = {
        "permission.grant",
        "permission.withdraw",
        "device.retire",
        "device.export",
        "device.erase",
        "school.settings",
        "token.create",
        "token.revoke",
        "user.add",
    }
    assert {case.action for case in CASES if case.done} == shared
    assert {case.action for case in CASES if not case.done} == shared
    assert all(set(case.surfaces) == {"cli", "page"} for case in CASES)
