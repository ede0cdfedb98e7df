"""The agent API over real HTTP (uvicorn on loopback): enrolment, config with ETag, and every
kind of bad input, each answered with its documented status while nothing else is lost."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.app import create_app
from service.devices import registry as devices
from service.models import Device, DeviceLessonSummary
from service.settings import Settings
from tests.support.clock import FakeClock
from tests.support.collector import Live, World, finding, live_server, retire, summary

TIMEOUT = 10


@pytest.fixture
def live(db_url: str, clock: FakeClock) -> Iterator[Live]:
    settings = Settings(db=db_url, purge_interval_seconds=0, device_burst=1000)
    with live_server(create_app(settings, clock=clock)) as server:
        yield server


class Agent:
    """A device speaking to the live collector, as the real agent does."""

    def __init__(self, live: Live, code: str, fingerprint: str | None = None) -> None:
        self.url = live.url + "/api/v1/agent"
        body: dict[str, Any] = {"code": code, "platform": "linux", "agent_version": "0.1.0"}
        if fingerprint:
            body["fingerprint"] = fingerprint
        answer = requests.post(self.url + "/enroll", json=body, timeout=TIMEOUT)
        assert answer.status_code == 201, answer.text
        self.device_id: str = answer.json()["device_id"]
        self.token: str = answer.json()["token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def send(self, items: list[Any]) -> requests.Response:
        return requests.post(
            self.url + "/reports", json={"reports": items}, headers=self.auth, timeout=TIMEOUT
        )

    def post_raw(self, data: bytes, **headers: str) -> requests.Response:
        return requests.post(
            self.url + "/reports",
            data=data,
            headers={**self.auth, "Content-Type": "application/json", **headers},
            timeout=TIMEOUT,
        )


def stored(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(DeviceLessonSummary)) or 0


def assert_error(answer: requests.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


@pytest.fixture
def agent(live: Live, world: World, sessions: sessionmaker[Session]) -> Agent:
    """An enrolled 3B device that has already stored one summary (what must not be lost)."""
    device = Agent(live, world.code_3b)
    assert device.send([summary(world.lesson_3b, [finding()])]).status_code == 200
    assert stored(sessions) == 1
    return device


def still_works(agent: Agent, world: World, sessions: sessionmaker[Session], before: int) -> None:
    """Nothing stored was lost, and the same device can still send a valid batch."""
    assert stored(sessions) == before
    answer = agent.send([summary(world.lesson_3b)])
    assert answer.status_code == 200
    assert answer.json()["results"][0]["status"] == "accepted"
    assert stored(sessions) == before + 1


# --- enrolment and config ------------------------------------------------------------------


def test_config_lists_the_groups_lessons_and_answers_304(live: Live, world: World) -> None:
    """The config holds the device's own lessons and policy; its ETag gets a 304 next time."""
    device = Agent(live, world.code_3b)
    first = requests.get(device.url + "/config", headers=device.auth, timeout=TIMEOUT)
    assert first.status_code == 200
    body = first.json()
    assert [lesson["id"] for lesson in body["lessons"]] == [world.lesson_3b]
    assert body["device_id"] == device.device_id
    assert body["group"] == "3B"
    assert body["policy_digest"] and "rules" in body["policy"]
    assert first.headers["Date"]
    again = requests.get(
        device.url + "/config",
        headers={**device.auth, "If-None-Match": first.headers["ETag"]},
        timeout=TIMEOUT,
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == first.headers["ETag"]


def test_extension_enrols_as_chromeos_and_only_its_origin_gets_cors_on_the_agent_api(
    live: Live, world: World, sessions: sessionmaker[Session]
) -> None:
    """The browser extension on a Chromebook enrols with platform chromeos and calls the agent
    API cross-origin: its own origin is allowed there, another origin and the pages are not."""
    ext = "chrome-extension://miidlkkbabhbefopaneddnaplacpdfhl"
    url = live.url + "/api/v1/agent"
    preflight = requests.options(
        url + "/enroll",
        headers={
            "Origin": ext,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ext
    body = {"code": world.code_3b, "platform": "chromeos", "agent_version": "0.1.0+browser"}
    enrolled = requests.post(url + "/enroll", json=body, headers={"Origin": ext}, timeout=TIMEOUT)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.headers["Access-Control-Allow-Origin"] == ext
    token = enrolled.json()["token"]
    config = requests.get(
        url + "/config",
        headers={"Origin": ext, "Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert config.status_code == 200
    assert "ETag" in config.headers["Access-Control-Expose-Headers"]
    with sessions.begin() as session:
        device = session.get_one(Device, enrolled.json()["device_id"])
        assert device.platform == "chromeos"
    other = "chrome-extension://" + "a" * 32
    for path, origin in ((url + "/config", other), (live.url + "/privacy", ext)):
        answer = requests.get(path, headers={"Origin": origin}, timeout=TIMEOUT)
        assert "Access-Control-Allow-Origin" not in answer.headers, path
    # An agent sends no Origin: no CORS headers, and Vary says the answer could differ for one.
    plain = requests.get(
        url + "/config", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert plain.status_code == 200
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert "Origin" in [v.strip() for v in plain.headers["Vary"].split(",")]


def test_etag_changes_when_a_permission_is_granted(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A new permission for a listed lesson changes the ETag and shows in the config."""
    from service.lessons import records as lessons

    device = Agent(live, world.code_3b)
    first = requests.get(device.url + "/config", headers=device.auth, timeout=TIMEOUT)
    with sessions.begin() as session:
        lesson = lessons.get_lesson(session, world.lesson_3b).lesson
        lessons.grant_permission(session, lesson=lesson, categories=["social_media"], now=clock())
    second = requests.get(
        device.url + "/config",
        headers={**device.auth, "If-None-Match": first.headers["ETag"]},
        timeout=TIMEOUT,
    )
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.json()["permissions"][0]["categories"] == ["social_media"]


def test_cloned_image_gets_its_own_id_and_shows_as_duplicate(
    live: Live, world: World, sessions: sessionmaker[Session]
) -> None:
    """Two enrolments with one fingerprint are two devices, both listed as duplicates for IT."""
    from service.schools import registry as schools

    fp = "ab" * 32
    one, two = Agent(live, world.code_3b, fp), Agent(live, world.code_3b, fp)
    Agent(live, world.code_3b, "cd" * 32)
    assert one.device_id != two.device_id and one.token != two.token
    with sessions.begin() as session:
        rows = devices.list_devices(session, school=schools.school(session), duplicates_only=True)
    assert sorted(r.device.id for r in rows) == sorted([one.device_id, two.device_id])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"code": "NOPE-NOPE-NOPE", "platform": "linux", "agent_version": "0.1"},
            403,
            "enrolment_code_invalid",
        ),
        ({"code": "x", "platform": "amiga", "agent_version": "0.1"}, 422, "invalid_request"),
        (
            {"code": "x", "platform": "linux", "agent_version": "0.1", "extra": 1},
            422,
            "invalid_request",
        ),
        ({"code": 5, "platform": "linux", "agent_version": "0.1"}, 422, "invalid_request"),
        (
            {"code": "x", "platform": "linux", "agent_version": "0.1", "fingerprint": "raw-id"},
            422,
            "invalid_request",
        ),
        ([1, 2, 3], 422, "invalid_request"),
    ],
)
def test_bad_enrolment_is_refused(live: Live, body: Any, status: int, code: str) -> None:
    """Unknown codes and malformed enrolment bodies get their documented error."""
    answer = requests.post(live.url + "/api/v1/agent/enroll", json=body, timeout=TIMEOUT)
    assert_error(answer, status, code)


def test_enrolment_code_runs_out(
    live: Live, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A code with two uses enrols two devices and refuses the third."""
    from datetime import timedelta

    from service.devices import enrolment
    from service.schools import registry as schools

    with sessions.begin() as session:
        code = enrolment.create_code(
            session,
            actor=Actor.operator(schools.school(session)),
            group="3B",
            uses=2,
            lifetime=timedelta(hours=1),
            now=clock(),
        )
    body = {"code": code.lower(), "platform": "windows", "agent_version": "0.1.0"}
    url = live.url + "/api/v1/agent/enroll"
    assert [requests.post(url, json=body, timeout=TIMEOUT).status_code for _ in range(3)] == [
        201,
        201,
        403,
    ]


def test_expired_code_is_refused(live: Live, world: World, clock: FakeClock) -> None:
    """After its expiry a code enrols nothing."""
    from datetime import timedelta

    clock.now += timedelta(days=8)
    body = {"code": world.code_3b, "platform": "linux", "agent_version": "0.1.0"}
    answer = requests.post(live.url + "/api/v1/agent/enroll", json=body, timeout=TIMEOUT)
    assert_error(answer, 403, "enrolment_code_invalid")


# --- bad input on the reports endpoint -------------------------------------------------------


def test_oversized_body(agent: Agent, world: World, sessions: sessionmaker[Session]) -> None:
    """A body over 1 MiB is refused with 413 and nothing of it is stored."""
    big = [summary(world.lesson_3b) for _ in range(3000)]
    answer = agent.post_raw(json.dumps({"reports": big}).encode())
    assert_error(answer, 413, "body_too_large")
    still_works(agent, world, sessions, 1)


def test_oversized_chunked_body(
    agent: Agent, world: World, sessions: sessionmaker[Session]
) -> None:
    """A chunked body without Content-Length is cut off at the cap all the same."""

    def chunks() -> Iterator[bytes]:
        yield b'{"reports": ['
        for _ in range(4000):
            yield json.dumps(summary(world.lesson_3b)).encode() + b","
        yield b"{}]}"

    answer = requests.post(
        agent.url + "/reports",
        data=chunks(),
        headers={**agent.auth, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_error(answer, 413, "body_too_large")
    still_works(agent, world, sessions, 1)


@pytest.mark.parametrize(
    "body",
    [
        {"reports": "not a list"},
        {"reports": None},
        {"reports": [], "extra": True},
        {"items": []},
        [],
        "reports",
        42,
    ],
)
def test_wrong_shape_of_batch(
    agent: Agent, world: World, sessions: sessionmaker[Session], body: Any
) -> None:
    """A body that is not {"reports": [...]} is refused whole with 422."""
    answer = agent.post_raw(json.dumps(body).encode())
    assert_error(answer, 422, "invalid_request")
    still_works(agent, world, sessions, 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: {**s, "dropped": "0"}, "dropped must be a whole number"),
        (lambda s: {**s, "coverage": {**s["coverage"], "gaps": 1.5}}, "coverage.gaps"),
        (lambda s: {**s, "findings": {"a": 1}}, "findings must be a list"),
        (lambda s: {**s, "window_title": "Instagram - Chrome"}, "unknown field 'window_title'"),
        (lambda s: {**s, "findings": [{**finding(), "title": "x"}]}, "unknown field 'title'"),
    ],
)
def test_wrong_types_and_extra_fields_in_an_item(
    agent: Agent, world: World, sessions: sessionmaker[Session], change: Any, reason: str
) -> None:
    """An item with a wrong type or an extra field is rejected; its batch-mates are stored."""
    answer = agent.send([change(summary(world.lesson_3b)), summary(world.lesson_3b)])
    assert answer.status_code == 200
    first, second = answer.json()["results"]
    assert first["status"] == "rejected" and reason in first["reason"]
    assert second["status"] == "accepted"
    assert stored(sessions) == 2


def test_another_devices_token(
    live: Live, agent: Agent, world: World, sessions: sessionmaker[Session]
) -> None:
    """A device (of 4A) cannot write into 3B's lesson, nor claim a report id another device sent."""
    other = Agent(live, world.code_4a)
    mine = summary(world.lesson_3b, [finding()])
    assert agent.send([mine]).json()["results"][0]["status"] == "accepted"
    results = other.send([mine, summary(world.lesson_3b)]).json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert {r["reason"] for r in results} == {"lesson belongs to another group"}
    assert stored(sessions) == 2
    with sessions.begin() as session:
        owners = set(session.scalars(select(DeviceLessonSummary.device_id)))
    assert owners == {agent.device_id}


def test_another_groups_lesson(agent: Agent, world: World, sessions: sessionmaker[Session]) -> None:
    """A summary for a lesson of another group is rejected; the valid one beside it is stored."""
    results = agent.send([summary(world.lesson_4a), summary(world.lesson_3b)]).json()["results"]
    assert [(r["status"], r["reason"]) for r in results] == [
        ("rejected", "lesson belongs to another group"),
        ("accepted", None),
    ]
    assert stored(sessions) == 2


def test_replayed_report_id(agent: Agent, world: World, sessions: sessionmaker[Session]) -> None:
    """A replayed report id is a duplicate, even with different content, and is not counted."""
    first = summary(world.lesson_3b, [finding(seconds=300)])
    assert agent.send([first]).json()["results"][0]["status"] == "accepted"
    replay = {**first, "findings": [finding(seconds=600)]}
    results = agent.send([replay]).json()["results"]
    assert results == [{"report_id": first["report_id"], "status": "duplicate", "reason": None}]
    with sessions.begin() as session:
        row = session.scalars(
            select(DeviceLessonSummary).where(DeviceLessonSummary.report_id == first["report_id"])
        ).one()
    assert row.summary["findings"][0]["seconds"] == 300
    assert stored(sessions) == 2


def test_ten_thousand_items(agent: Agent, world: World, sessions: sessionmaker[Session]) -> None:
    """A batch of 10,000 items is refused whole with 422 (the cap is 500)."""
    answer = agent.post_raw(json.dumps({"reports": [{}] * 10_000}).encode())
    assert_error(answer, 422, "invalid_request")
    assert "500" in answer.json()["error"]["message"]
    still_works(agent, world, sessions, 1)


def test_revoked_token(
    agent: Agent, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A retired device's token gets 401 on every agent endpoint; its stored data stays."""
    with sessions.begin() as session:
        retire(session, agent.device_id, clock())
    assert_error(agent.send([summary(world.lesson_3b)]), 401, "unauthorized")
    config = requests.get(agent.url + "/config", headers=agent.auth, timeout=TIMEOUT)
    assert_error(config, 401, "unauthorized")
    assert stored(sessions) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer lwd_madeup"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer lwu_a-user-token"},
    ],
)
def test_missing_or_unknown_token(live: Live, headers: dict[str, str]) -> None:
    """No token, an unknown one or a user token get 401 before any body is read."""
    answer = requests.post(
        live.url + "/api/v1/agent/reports", data=b"\xff" * 10, headers=headers, timeout=TIMEOUT
    )
    assert_error(answer, 401, "unauthorized")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02garbage",
        b"\xff\xfe{",
        b'{"reports": [',
        b"",
        b'{"reports": [NaN]}',
        b"[" * 100_000,
    ],
)
def test_garbage_bytes(
    agent: Agent, world: World, sessions: sessionmaker[Session], data: bytes
) -> None:
    """Bytes that are not UTF-8 JSON get 400 invalid_json, never a 500."""
    assert_error(agent.post_raw(data), 400, "invalid_json")
    still_works(agent, world, sessions, 1)


def test_half_sent_body_loses_nothing(
    live: Live, agent: Agent, world: World, sessions: sessionmaker[Session]
) -> None:
    """A client that announces a body and hangs up mid-way stores nothing and breaks nothing."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST /api/v1/agent/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {agent.token}\r\nContent-Length: 5000\r\n\r\n".encode()
            + b'{"reports": ['
        )
    still_works(agent, world, sessions, 1)


def test_rate_limit_answers_429_with_retry_after(
    db_url: str, world: World, clock: FakeClock
) -> None:
    """Past its burst a device gets 429 with Retry-After; another device is not affected."""
    settings = Settings(
        db=db_url, purge_interval_seconds=0, device_burst=3, device_rate_per_minute=1
    )
    with live_server(create_app(settings, clock=clock)) as server:
        one, two = Agent(server, world.code_3b), Agent(server, world.code_3b)
        codes = [
            requests.get(one.url + "/config", headers=one.auth, timeout=TIMEOUT).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        limited = requests.get(one.url + "/config", headers=one.auth, timeout=TIMEOUT)
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert requests.get(two.url + "/config", headers=two.auth, timeout=TIMEOUT).ok


def test_openapi_schema_is_served(live: Live) -> None:
    """The OpenAPI schema names every agent route and describes the raw request bodies."""
    schema = requests.get(live.url + "/openapi.json", timeout=TIMEOUT).json()
    paths = schema["paths"]
    assert {
        "/api/v1/agent/enroll",
        "/api/v1/agent/config",
        "/api/v1/agent/reports",
        "/api/v1/lessons/{lesson_id}/report",
    } <= set(paths)
    body = paths["/api/v1/agent/reports"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[1]
    assert ref in schema["components"]["schemas"]
    assert "LessonSummary" in schema["components"]["schemas"]
    assert "EnrollRequest" in schema["components"]["schemas"]
