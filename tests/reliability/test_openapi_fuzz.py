"""Schemathesis against the collector's served OpenAPI schema, over real HTTP on loopback, on
both backends: no 5xx, and no status, content type, header or body outside the schema.

Every operation is fuzzed with credentials that let it through, rotating over the roles the
operation is open to (the group-chat register: teachers, leaders and admins; its overview and
export: leaders and admins; the school's closed platform: admins), so the requests reach the
use cases instead of stopping at 401 or 403. The refusals themselves are checked against the
schema in ``test_refusals_answer_within_the_schema``.

schemathesis' own pytest plugin crashes under pytest 9.2, so each operation's strategy is run
through hypothesis directly.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from service import db
from service.accounts import users
from service.app import create_app
from service.groupchats import register as groupchats
from service.models import User
from service.schools import registry as schools
from service.settings import Settings
from tests.reliability.reliability_helpers import School
from tests.support.actors import operator_for
from tests.support.collector import Live, live_server


@dataclass(frozen=True)
class Examples:
    """Generated requests per operation; the group-chat operations share most of their code
    path, so they get fewer each while every operation still gets many requests."""

    each: int
    groupchat: int


# The full fuzz runs on SQLite. What it checks above storage (generation, the wire, validation,
# the answers' schema) is the same code on PostgreSQL, where every operation is still fuzzed, in
# fewer examples, for what PostgreSQL alone refuses (NUL characters, integer ranges). At the
# full count the PostgreSQL run was 14.5 of the file's 36 CPU-s (the test process alone).
FULL = Examples(each=50, groupchat=25)
ON_POSTGRESQL = Examples(each=20, groupchat=12)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

CHATS = "/api/v1/groupchats"
REGISTER_ROLES = ("teacher", "leader", "admin")
SCHOOL_WIDE_ROLES = ("leader", "admin")
# Every operation of the served schema, with the roles whose credentials fuzz it ("device" is an
# enrolled device's token). Adding an endpoint fails this test until it is named here.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "GET /healthz": (),
    "POST /api/v1/agent/enroll": (),
    "POST /api/v1/agent/fingerprint-key": (),
    "GET /api/v1/agent/config": ("device",),
    "POST /api/v1/agent/reports": ("device",),
    "GET /api/v1/lessons/{lesson_id}/report": ("admin",),
    f"GET {CHATS}": REGISTER_ROLES,
    f"POST {CHATS}": REGISTER_ROLES,
    f"GET {CHATS}/overview": SCHOOL_WIDE_ROLES,
    f"GET {CHATS}/export.csv": SCHOOL_WIDE_ROLES,
    f"PUT {CHATS}/school": ("admin",),
    f"GET {CHATS}/{{chat_id}}": REGISTER_ROLES,
    f"PUT {CHATS}/{{chat_id}}": REGISTER_ROLES,
    f"DELETE {CHATS}/{{chat_id}}": REGISTER_ROLES,
}
# The operations without any parameter or body: nothing there to make invalid.
WITHOUT_INPUT = {"GET /healthz", "GET /api/v1/agent/config", f"GET {CHATS}/export.csv"}


def chat(**changes: Any) -> dict[str, Any]:
    """A valid declaration (of 4A on Signal unless changed)."""
    base = {
        "group": "4A",
        "platform": "signal",
        "account": "school",
        "purposes": ["homework"],
        "pupils_in_class": 28,
        "pupils_in_chat": 27,
        "youngest_age": 14,
        "parental_consent": True,
        "alternative": "mail",
    }
    return {**base, **changes}


@dataclass(frozen=True)
class Staff:
    """API tokens per role in the fuzzed school, and the chats registered before the run."""

    tokens: dict[str, str]
    chats: dict[str, int]  # group name to id: 3B and 4A the teacher's, 5C the admin's


def add_staff(school: School) -> Staff:
    """A teacher, a leader and IT staff beside the school's admin, with chats to find by id."""
    now = datetime.now(UTC).replace(microsecond=0)
    engine = db.make_engine(school.url)
    try:
        with db.session_factory(engine).begin() as session:
            home = schools.school(session)
            tokens = {"admin": school.admin_token, "device": school.device_tokens[0]}
            people = {}
            for name, role in (("ann", "teacher"), ("lea", "leader"), ("ict", "it")):
                person = User(
                    school_id=home.id,
                    username=name,
                    role=role,
                    password_hash="not-used-here",
                    created_at=now,
                )
                session.add(person)
                session.flush()
                people[role] = person
                tokens[role] = users.create_token(
                    session, actor=operator_for(person), user=person, now=now
                )
            admin = session.scalars(select(User).where(User.username == "root")).one()
            catalog = groupchats.shipped_catalog()
            ids = {}
            for owner, group, platform in (
                (people["teacher"], "3B", "whatsapp"),
                (people["teacher"], "4A", "signal"),
                (admin, "5C", "parro"),
            ):
                raw = chat(group=group, platform=platform)
                row = groupchats.register(session, viewer=owner, raw=raw, catalog=catalog, now=now)
                ids[group] = row.id
        return Staff(tokens, ids)
    finally:
        engine.dispose()


@pytest.fixture
def live(school: School) -> Iterator[Live]:
    # Fuzzing sends far more requests than a device would: lift the rate limits for the run.
    settings_ = Settings(
        db=school.url,
        purge_interval_seconds=0,
        device_burst=1_000_000,
        enrol_burst=1_000_000,
    )
    with live_server(create_app(settings_)) as server:
        yield server


@pytest.fixture
def staff(school: School) -> Staff:
    return add_staff(school)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def load_operations(live: Live) -> list[Any]:
    api = schemathesis.openapi.from_url(live.url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} == set(OPERATIONS)
    return operations


def has_input(operation: Any) -> bool:
    return any(len(p) for p in (operation.path_parameters, operation.query, operation.body))


def cases(operation: Any, mode: GenerationMode, staff: Staff) -> st.SearchStrategy[Any]:
    """The operation's generated requests; valid ones name a registered chat half the time,
    since a random id would almost never find one."""
    generated = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.NEGATIVE or "{chat_id}" not in operation.path:
        return generated
    seeded = st.sampled_from([None, *staff.chats.values()])

    def named(pair: tuple[Any, int | None]) -> Any:
        case, chat_id = pair
        if chat_id is not None:
            case.path_parameters = {**(case.path_parameters or {}), "chat_id": chat_id}
        return case

    return st.tuples(generated, seeded).map(named)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_within_its_schema(
    school: School, live: Live, staff: Staff, mode: GenerationMode
) -> None:
    """Every generated request, valid or not, gets a documented status, content type, headers
    and body, never a 5xx; each operation is fuzzed with credentials that let it through."""
    count = ON_POSTGRESQL if school.url.startswith("postgresql") else FULL
    operations = load_operations(live)
    http = requests.Session()
    sent: Counter[str] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    with_input = {op.label for op in operations if has_input(op)}
    assert with_input == set(OPERATIONS) - WITHOUT_INPUT
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.label not in with_input:
            continue  # nothing in the request that could be made invalid
        examples = count.groupchat if operation.path.startswith(CHATS) else count.each

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases(operation, mode, staff))
        def fuzz(case: Any) -> None:
            label = case.operation.label
            roles = OPERATIONS[label]
            role = roles[sent[label] % len(roles)] if roles else None
            sent[label] += 1
            response = case.call_and_validate(
                base_url=live.url,
                session=http,
                headers=bearer(staff.tokens[role] if role else None),
                checks=CHECKS,
                timeout=10,
            )
            statuses[(label, response.status_code)] += 1

        fuzz()
    # The runs really happened: every operation with an input got many different requests.
    fuzzed = with_input if mode is GenerationMode.NEGATIVE else set(OPERATIONS)
    assert set(sent) == fuzzed
    assert all(sent[label] >= 10 for label in with_input), sent
    # The credentials let the requests through: each operation's requests reached its use
    # case. (Negative cases may drop the Authorization header on purpose: a 401 is right then.)
    for label in fuzzed:
        if OPERATIONS[label]:
            assert any(s not in (401, 403) for (lb, s) in statuses if lb == label), label
    if mode is GenerationMode.POSITIVE:
        assert not [key for key in statuses if key[1] == 401 and OPERATIONS[key[0]]], statuses
        # Valid requests did their work: chats were registered, listed, changed and deleted.
        for wanted in (
            (f"POST {CHATS}", 201),
            (f"GET {CHATS}", 200),
            (f"GET {CHATS}/overview", 200),
            (f"GET {CHATS}/export.csv", 200),
            (f"PUT {CHATS}/school", 200),
        ):
            assert statuses[wanted] > 0, (wanted, sorted(statuses.items()))


OVERSIZED = b'{"group": "' + b"x" * (1024 * 1024) + b'"}'
# One register session, in order: (operation, role or None for no token, the chat (a seeded
# chat's group, or an id), the body (JSON, or raw bytes sent as they are), status, error code).
CALLS: list[tuple[str, str | None, str | int | None, Any, int, str | None]] = [
    # Valid requests of each role the operation is open to.
    (f"GET {CHATS}/{{chat_id}}", "teacher", "3B", None, 200, None),
    (f"GET {CHATS}/{{chat_id}}", "leader", "3B", None, 200, None),
    (f"PUT {CHATS}/{{chat_id}}", "teacher", "3B", chat(group="3B", platform="parro"), 200, None),
    (f"POST {CHATS}", "leader", None, chat(group="6D"), 201, None),
    (f"PUT {CHATS}/school", "admin", None, {"closed_platform": "parro"}, 200, None),
    (f"PUT {CHATS}/school", "admin", None, {"closed_platform": None}, 200, None),
    # No token, a device's token, the wrong role.
    (f"GET {CHATS}", None, None, None, 401, "unauthorized"),
    (f"GET {CHATS}", "device", None, None, 401, "unauthorized"),
    (f"GET {CHATS}", "it", None, None, 403, "forbidden"),
    (f"POST {CHATS}", None, None, chat(), 401, "unauthorized"),
    (f"POST {CHATS}", "it", None, chat(), 403, "forbidden"),
    (f"GET {CHATS}/overview", "teacher", None, None, 403, "forbidden"),
    (f"GET {CHATS}/export.csv", None, None, None, 401, "unauthorized"),
    (f"GET {CHATS}/export.csv", "teacher", None, None, 403, "forbidden"),
    (f"PUT {CHATS}/school", "leader", None, {"closed_platform": "parro"}, 403, "forbidden"),
    # Someone else's chat, one that does not exist, and ids that are not chat ids.
    (f"GET {CHATS}/{{chat_id}}", "teacher", "5C", None, 404, "not_found"),
    (f"GET {CHATS}/{{chat_id}}", "admin", 2**31 - 1, None, 404, "not_found"),
    (f"GET {CHATS}/{{chat_id}}", "admin", 0, None, 422, "invalid_request"),
    (f"DELETE {CHATS}/{{chat_id}}", "admin", 2**31, None, 422, "invalid_request"),
    (f"PUT {CHATS}/{{chat_id}}", "leader", "3B", chat(group="3B"), 403, "forbidden"),
    (f"DELETE {CHATS}/{{chat_id}}", "leader", "3B", None, 403, "forbidden"),
    (f"DELETE {CHATS}/{{chat_id}}", "it", "3B", None, 403, "forbidden"),
    # Replayed: the same change again is the same chat; the same chat registered again, or one
    # changed into a twin of another, is a conflict.
    (f"PUT {CHATS}/{{chat_id}}", "teacher", "3B", chat(group="3B", platform="parro"), 200, None),
    (f"POST {CHATS}", "leader", None, chat(group="6D"), 409, "conflict"),
    (f"PUT {CHATS}/{{chat_id}}", "teacher", "3B", chat(), 409, "conflict"),
    # Malformed, hostile and oversized bodies.
    (f"POST {CHATS}", "teacher", None, chat(pupils_in_chat=40), 422, "invalid_chat"),
    (f"POST {CHATS}", "teacher", None, {**chat(), "members": ["Sanne"]}, 422, "invalid_chat"),
    (f"POST {CHATS}", "teacher", None, [chat()], 422, "invalid_chat"),
    (f"POST {CHATS}", "teacher", None, b'{"group": "3B"', 400, "invalid_json"),
    (f"POST {CHATS}", "teacher", None, b'{"group": NaN}', 400, "invalid_json"),
    (f"POST {CHATS}", "teacher", None, OVERSIZED, 413, "body_too_large"),
    (f"PUT {CHATS}/{{chat_id}}", "teacher", "3B", b"\xff\xfe", 400, "invalid_json"),
    (f"PUT {CHATS}/{{chat_id}}", "teacher", "3B", OVERSIZED, 413, "body_too_large"),
    (f"PUT {CHATS}/school", "admin", None, {"closed_platform": "whatsapp"}, 422, "invalid_chat"),
    (f"PUT {CHATS}/school", "admin", None, {"closed": "parro"}, 422, "invalid_chat"),
    (f"PUT {CHATS}/school", "admin", None, b"[", 400, "invalid_json"),
    # Deleted by its teacher, then by the admin (any chat); a replayed delete finds nothing.
    (f"DELETE {CHATS}/{{chat_id}}", "teacher", "4A", None, 204, None),
    (f"DELETE {CHATS}/{{chat_id}}", "admin", "3B", None, 204, None),
    (f"DELETE {CHATS}/{{chat_id}}", "admin", "3B", None, 404, "not_found"),
    (f"GET {CHATS}/export.csv", "leader", None, None, 200, None),
    (f"GET {CHATS}/overview", "admin", None, None, 200, None),
]


@pytest.mark.slow
def test_register_answers_within_the_schema(live: Live, staff: Staff) -> None:
    """Valid requests of each allowed role, refusals (no token, wrong role, someone else's
    chat, bad ids), replays, and malformed, hostile and oversized bodies each get the status
    the schema declares for them, with its documented body."""
    operations = {op.label: op for op in load_operations(live)}
    for label, role, which, body, status, code in CALLS:
        operation = operations[label]
        chat_id = staff.chats[which] if isinstance(which, str) else which
        case = operation.Case(path_parameters=None if chat_id is None else {"chat_id": chat_id})
        headers = bearer(staff.tokens[role] if role else None)
        if body is None:
            response = requests.request(
                case.method, live.url + case.formatted_path, headers=headers, timeout=10
            )
        else:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = requests.request(
                case.method,
                live.url + case.formatted_path,
                headers={**headers, "Content-Type": "application/json"},
                data=raw,
                timeout=10,
            )
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == status, (label, role, which, response.text[:300])
        if code is not None:
            assert response.json()["error"]["code"] == code, (label, response.text[:300])
    # What the calls changed is what they said: 3B and 4A deleted, 6D registered once.
    with_admin = bearer(staff.tokens["admin"])
    listed = requests.get(live.url + CHATS, headers=with_admin, timeout=10).json()["chats"]
    assert sorted(c["group"] for c in listed) == ["5C", "6D"]


def test_healthz_is_bare(live: Live) -> None:
    """/healthz answers 200 with its documented body and needs no credentials."""
    answer = requests.get(live.url + "/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
