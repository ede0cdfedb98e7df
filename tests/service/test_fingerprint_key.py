"""The schools' fingerprint keys (issue 15): each school has its own, a device holding a usable
enrolment code may ask for it without spending the code, and it is shown nowhere else."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.app import create_app
from service.cli.main import main as service_main
from service.devices import enrolment
from service.schools import registry as schools
from service.settings import Settings
from tests.support.clock import FakeClock
from tests.support.collector import Live, World, live_server

TIMEOUT = 10
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def live(db_url: str, clock: FakeClock) -> Iterator[Live]:
    settings = Settings(db=db_url, purge_interval_seconds=0)
    with live_server(create_app(settings, clock=clock)) as server:
        yield server


def ask(url: str, body: Any) -> requests.Response:
    return requests.post(url + "/api/v1/agent/fingerprint-key", json=body, timeout=TIMEOUT)


def enrol(url: str, code: str) -> requests.Response:
    body = {"code": code, "platform": "linux", "agent_version": "0.1.0"}
    return requests.post(url + "/api/v1/agent/enroll", json=body, timeout=TIMEOUT)


def key_of(url: str, code: str) -> str:
    answer = ask(url, {"code": code})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    key = answer.json()["fingerprint_key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    return str(key)


def new_code(
    sessions: sessionmaker[Session], clock: FakeClock, school: str = "School", uses: int = 5
) -> str:
    with sessions.begin() as session:
        return enrolment.create_code(
            session,
            actor=Actor.operator(schools.school(session, school)),
            group="3B",
            uses=uses,
            lifetime=timedelta(days=7),
            now=clock(),
        )


def test_a_usable_code_gets_its_schools_key_and_is_not_spent(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Every code of one school gets that school's key; asking spends no use, so a code of one
    use still enrols after being asked twice, and is used up after that."""
    once = new_code(sessions, clock, uses=1)
    key = key_of(live.url, world.code_3b)
    assert key_of(live.url, world.code_4a) == key
    assert key_of(live.url, once) == key_of(live.url, once) == key
    assert enrol(live.url, once).status_code == 201
    assert ask(live.url, {"code": once}).status_code == 403


def test_each_school_has_its_own_key(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Another school's codes get another key: the same machine has unrelated fingerprints in
    two schools."""
    other = new_code(sessions, clock, school="Other school")
    assert key_of(live.url, other) != key_of(live.url, world.code_3b)


def _unknown(_code: str, _sessions: sessionmaker[Session], _clock: FakeClock) -> str:
    return "NOPE-NOPE-NOPE"


def _expired(code: str, _sessions: sessionmaker[Session], clock: FakeClock) -> str:
    clock.now += timedelta(days=8)
    return code


def _revoked(code: str, sessions: sessionmaker[Session], clock: FakeClock) -> str:
    with sessions.begin() as session:
        actor = Actor.operator(schools.school(session))
        [row] = [r for r in enrolment.list_codes(session, actor=actor) if r.group == "3B"]
        enrolment.revoke_code(session, actor=actor, code_id=row.id, now=clock())
    return code


@pytest.mark.parametrize("spoil", [_unknown, _expired, _revoked])
def test_a_code_that_would_not_enrol_gets_the_enrolments_own_refusal(
    live: Live,
    world: World,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    spoil: Callable[[str, sessionmaker[Session], FakeClock], str],
) -> None:
    """Unknown, expired and revoked codes are refused exactly as enrolment refuses them, so the
    two requests tell nothing apart."""
    code = spoil(world.code_3b, sessions, clock)
    refused, enrolling = ask(live.url, {"code": code}), enrol(live.url, code)
    assert refused.status_code == enrolling.status_code == 403
    assert refused.json() == enrolling.json()
    assert refused.json()["error"]["code"] == "enrolment_code_invalid"


@pytest.mark.parametrize(
    "body",
    [{"code": 5}, {"code": ""}, {"code": "x", "fingerprint": "ab" * 32}, [1], {"code": "A\x1b"}],
)
def test_a_malformed_request_for_the_key_is_refused(live: Live, body: Any) -> None:
    """A body other than {"code": "..."} gets 422, as a malformed enrolment does."""
    answer = ask(live.url, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"


def test_asking_for_the_key_is_limited_like_enrolment(
    db_url: str, world: World, clock: FakeClock
) -> None:
    """Past the enrolment burst per address the key is refused with 429 and Retry-After; it is
    counted apart from enrolment, so the devices that asked can still enrol."""
    settings = Settings(db=db_url, purge_interval_seconds=0, enrol_burst=2, enrol_rate_per_minute=1)
    with live_server(create_app(settings, clock=clock)) as server:
        answers = [ask(server.url, {"code": world.code_3b}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[-1].json()["error"]["code"] == "rate_limited"
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
        assert [enrol(server.url, world.code_3b).status_code for _ in range(2)] == [201, 201]


def test_an_older_agent_enrols_without_asking_and_keeps_its_fingerprint(
    live: Live, world: World, sessions: sessionmaker[Session]
) -> None:
    """An agent from before the key sends its unkeyed hash without asking: it is enrolled, and
    the fingerprint is stored as sent (compared, as every fingerprint, within the school)."""
    from service.models import Device

    unkeyed = "9f" * 32
    body = {"code": world.code_3b, "platform": "linux", "agent_version": "0.0.9"}
    answer = requests.post(
        live.url + "/api/v1/agent/enroll", json={**body, "fingerprint": unkeyed}, timeout=TIMEOUT
    )
    assert answer.status_code == 201, answer.text
    with sessions.begin() as session:
        assert session.get_one(Device, answer.json()["device_id"]).fingerprint == unkeyed


def cli(db_url: str, clock: FakeClock, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert service_main([*args, "--db", db_url], clock=clock) == 0
    return out.getvalue()


def test_the_key_is_shown_nowhere_else(
    live: Live, world: World, db_url: str, clock: FakeClock
) -> None:
    """Neither the device's config, nor the school's settings, the device list, the codes or a
    device's access export holds the key."""
    key = key_of(live.url, world.code_3b)
    device = enrol(live.url, world.code_3b).json()
    config = requests.get(
        live.url + "/api/v1/agent/config",
        headers={"Authorization": f"Bearer {device['token']}"},
        timeout=TIMEOUT,
    )
    shown = [
        config.text,
        requests.get(live.url + "/openapi.json", timeout=TIMEOUT).text,
        cli(db_url, clock, "schools", "show"),
        cli(db_url, clock, "devices", "list", "--json"),
        cli(db_url, clock, "enroll-code", "list", "--json"),
        cli(db_url, clock, "devices", "export", device["device_id"]),
    ]
    assert config.status_code == 200
    assert [key in text for text in shown] == [False] * len(shown)


def test_only_enrolment_reads_the_key() -> None:
    """In the collector's code only the model, the migration that made the keys, enrolment and
    the agent API name the key: no page, export or command can show it by accident."""
    allowed = {
        "service/models.py",
        "service/credentials.py",
        "service/devices/enrolment.py",
        "service/api/agent.py",
        "service/api/schemas.py",
        "service/migrations/versions/0012_fingerprint_key_day_last_seen.py",
    }
    naming = {
        str(path.relative_to(REPO))
        for path in (REPO / "service").rglob("*")
        if path.suffix in (".py", ".html") and "fingerprint_key" in path.read_text()
    }
    assert naming == allowed
