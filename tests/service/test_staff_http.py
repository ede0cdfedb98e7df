"""The staff report endpoint over real HTTP: token kinds, roles, and bad lesson ids."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy.orm import Session, sessionmaker

from service.accounts import users
from service.app import create_app
from service.schools import registry as schools
from service.settings import Settings
from tests.support.actors import operator_for
from tests.support.clock import FakeClock
from tests.support.collector import Live, World, enrol, live_server

TIMEOUT = 10


@pytest.fixture
def live(db_url: str, clock: FakeClock) -> Iterator[Live]:
    with live_server(create_app(Settings(db=db_url, purge_interval_seconds=0), clock=clock)) as s:
        yield s


def get(live: Live, lesson: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{live.url}/api/v1/lessons/{lesson}/report", headers=headers, timeout=TIMEOUT
    )


@pytest.mark.parametrize(
    ("who", "status"),
    [("teacher_token", 200), ("admin_token", 200), ("other_teacher_token", 403), ("it_token", 403)],
)
def test_roles(live: Live, world: World, who: str, status: int) -> None:
    """The lesson's teacher and admins read it; another teacher and IT get 403."""
    answer = get(live, world.lesson_3b, getattr(world, who))
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["lesson"]["id"] == world.lesson_3b
    else:
        assert answer.json()["error"]["code"] == "forbidden"


def test_device_token_and_revoked_user_token_are_refused(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A device token is no staff token, and a revoked API token stops working at once."""
    with sessions.begin() as session:
        device_token = enrol(session, world.code_3b, clock()).token
    assert get(live, world.lesson_3b, device_token).status_code == 401
    assert get(live, world.lesson_3b, None).status_code == 401
    assert get(live, world.lesson_3b, world.admin_token).status_code == 200
    with sessions.begin() as session:
        root = users.by_username(session, "root", school=schools.school(session))
        users.revoke_tokens(session, actor=operator_for(root), user=root, now=clock())
    answer = get(live, world.lesson_3b, world.admin_token)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("lesson", "status", "code"),
    [
        ("l_nothing", 404, "not_found"),
        ("x" * 65, 422, "invalid_request"),
        ("bad%20id", 422, "invalid_request"),
    ],
)
def test_bad_lesson_ids(live: Live, world: World, lesson: str, status: int, code: str) -> None:
    """Unknown lessons get 404, ids that cannot be lesson ids 422, both in the error format."""
    answer = get(live, lesson, world.admin_token)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


def test_unknown_route_has_the_error_format(live: Live) -> None:
    """Even a path that does not exist answers in the documented error shape."""
    answer = requests.get(live.url + "/api/v1/nothing", timeout=TIMEOUT)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.usefixtures("world")
def test_serving_collector_purges_on_its_own(
    db_url: str, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """With the clock past retention, the serve process's purge job freezes the lessons."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from service.models import LessonAggregate

    clock.now += timedelta(days=60)
    settings = Settings(db=db_url, purge_interval_seconds=1)
    with live_server(create_app(settings, clock=clock), lifespan=True):
        deadline = time.monotonic() + 20
        frozen = 0
        while frozen < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            with sessions.begin() as session:
                frozen = session.scalar(select(func.count()).select_from(LessonAggregate)) or 0
    assert frozen == 2
