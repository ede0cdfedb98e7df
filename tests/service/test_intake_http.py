"""The reports endpoint under concurrent real HTTP requests (uvicorn on loopback): group commit
stores each acknowledged summary once with the right result per item, one poisoned request in a
group fails alone, and wrong tokens never enter the token cache."""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.app import create_app
from service.ingest.intake import Intake
from service.models import DeviceLessonSummary
from service.settings import Settings
from tests.support.clock import FakeClock, utc
from tests.support.collector import (
    Live,
    World,
    enrol,
    finding,
    live_server,
    retire,
    summary,
)

TIMEOUT = 60


@pytest.fixture
def live(db_url: str, clock: FakeClock) -> Iterator[Live]:
    settings = Settings(
        db=db_url, purge_interval_seconds=0, device_burst=100_000, device_rate_per_minute=1e6
    )
    with live_server(create_app(settings, clock=clock)) as server:
        yield server


def intake_of(live: Live) -> Intake:
    found: Intake = live.app.state.intake
    return found


def tokens(sessions: sessionmaker[Session], clock: FakeClock, code: str, n: int) -> list[str]:
    with sessions.begin() as session:
        return [enrol(session, code, clock()).token for _ in range(n)]


_local = threading.local()


def post(live: Live, token: str, items: list[Any]) -> requests.Response:
    """One report request on this thread's own keep-alive connection."""
    if not hasattr(_local, "http"):
        _local.http = requests.Session()
    http: requests.Session = _local.http
    return http.post(
        live.url + "/api/v1/agent/reports",
        json={"reports": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def owners(sessions: sessionmaker[Session]) -> Counter[tuple[str, str]]:
    """(report id, device id) of every stored row, counted: a double would show as 2."""
    with sessions.begin() as session:
        query = select(DeviceLessonSummary.report_id, DeviceLessonSummary.device_id)
        return Counter((rid, dev) for rid, dev in session.execute(query).all())


def device_of(sessions: sessionmaker[Session], token: str) -> str:
    from service.devices import registry as devices

    with sessions.begin() as session:
        return devices.device_for_token(session, token).id


def test_concurrent_requests_and_their_replays_store_each_summary_once(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """320 single-summary requests from 32 threads, every body sent twice at random moments:
    each summary is accepted exactly once and its replay is a duplicate; all are stored once."""
    fleet = tokens(sessions, clock, world.code_3b, 16)
    sends = [(token, summary(world.lesson_3b, [finding()])) for token in fleet for _ in range(10)]
    work = sends * 2
    random.Random(9).shuffle(work)
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda tw: post(live, tw[0], [tw[1]]), work))
    assert {a.status_code for a in answers} == {200}
    statuses: dict[str, list[str]] = {}
    for answer in answers:
        (result,) = answer.json()["results"]
        statuses.setdefault(result["report_id"], []).append(result["status"])
    assert {rid: sorted(s) for rid, s in statuses.items()} == {
        item["report_id"]: ["accepted", "duplicate"] for _, item in sends
    }
    ids = {token: device_of(sessions, token) for token in fleet}
    assert owners(sessions) == Counter((item["report_id"], ids[t]) for t, item in sends)
    writes = intake_of(live).writes
    print(f"{writes.jobs} batches in {writes.groups} transactions")


@pytest.mark.parametrize("same_device", [True, False], ids=["same-device", "two-devices"])
def test_one_report_id_posted_twice_at_the_same_moment(
    live: Live,
    world: World,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    same_device: bool,
) -> None:
    """Two requests carrying one report id at once, twenty times: one is accepted, the other is
    its duplicate (same device) or refused (another device), and the row belongs to the first."""
    one, two = tokens(sessions, clock, world.code_3b, 2)
    senders = (one, one) if same_device else (one, two)
    expected = (
        ["accepted", "duplicate"]
        if same_device
        else ["accepted", "rejected: report_id was already used by another device"]
    )
    winners: Counter[str] = Counter()
    for _ in range(20):
        item = summary(world.lesson_3b)
        start = threading.Barrier(2)

        def send(token: str, item: dict[str, Any] = item, start: Any = start) -> dict[str, Any]:
            start.wait(timeout=10)
            answer = post(live, token, [item])
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()["results"][0]
            return result

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(send, senders))
        got = sorted(r["status"] + (f": {r['reason']}" if r["reason"] else "") for r in results)
        assert got == expected
        winner = senders[[r["status"] for r in results].index("accepted")]
        winners[winner] += 1
        stored = [(rid, dev) for rid, dev in owners(sessions) if rid == item["report_id"]]
        assert stored == [(item["report_id"], device_of(sessions, winner))]
    assert sum(winners.values()) == 20


@contextlib.contextmanager
def writes_held(db_url: str) -> Iterator[Callable[[str], None]]:
    """Another connection holding back every insert of summaries until the block ends: SQLite's
    write lock, or on PostgreSQL a lock on the summaries table. The function it yields deletes a
    device in that transaction (as another process erasing it would); it commits at the end."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), isolation_level=None, timeout=30)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield lambda device_id: conn.execute("DELETE FROM devices WHERE id = ?", (device_id,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pg:
        pg.execute("LOCK TABLE device_lesson_summaries IN SHARE ROW EXCLUSIVE MODE")
        yield lambda device_id: pg.execute("DELETE FROM devices WHERE id = %s", (device_id,))
        pg.commit()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def test_a_poisoned_request_in_a_group_fails_alone(
    live: Live,
    db_url: str,
    world: World,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seven requests queue behind a held transaction and go in one group; one of them comes
    from a device another process erased after its token was cached, so the group's insert
    breaks a foreign key. The group is stored again one request at a time: that request
    answers 500 and the six others are accepted and stored."""
    first, poisoned, *others = tokens(sessions, clock, world.code_3b, 8)
    for token in (first, poisoned, *others):
        # An empty batch: the token is checked (and cached) and nothing is stored.
        assert post(live, token, []).json() == {"results": []}
    writes = intake_of(live).writes
    erased = device_of(sessions, poisoned)
    caplog.set_level(logging.WARNING, logger="lessonwatch.service")
    items = {token: summary(world.lesson_3b) for token in (first, poisoned, *others)}
    with ThreadPoolExecutor(max_workers=8) as pool, writes_held(db_url) as delete_device:
        delete_device(erased)
        started = writes.groups
        leading = pool.submit(post, live, first, [items[first]])
        wait_until(lambda: writes.groups == started + 1, "the first group runs")
        queued = {t: pool.submit(post, live, t, [items[t]]) for t in (poisoned, *others)}
        wait_until(lambda: writes.waiting == 7, "seven requests wait for the next group")
    assert leading.result().json()["results"][0]["status"] == "accepted"
    bad = queued.pop(poisoned).result()
    assert bad.status_code == 500, bad.text
    assert bad.json()["error"]["code"] == "internal_error"
    for token, pending in queued.items():
        answer = pending.result()
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"] == [
            {"report_id": items[token]["report_id"], "status": "accepted", "reason": None}
        ]
    assert writes.groups == started + 2
    assert "a group of 7 report batches failed" in caplog.text
    stored = owners(sessions)
    assert set(stored.values()) == {1}
    assert {rid for rid, _ in stored} == {items[t]["report_id"] for t in (first, *others)}


def test_wrong_tokens_are_never_cached(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Two hundred made-up tokens, hostile ones (near misses of a good token, quotes, non-ASCII,
    the longest allowed) and a retired one get 401 and leave the cache as it was, so they cannot
    push a good device out; the good device is still served from the cache."""

    good, retired = tokens(sessions, clock, world.code_3b, 2)
    assert post(live, good, []).status_code == 200
    intake = intake_of(live)
    assert len(intake.cache) == 1
    with sessions.begin() as session:
        retire(session, device_of(sessions, retired), clock())
    hostile = [
        "lwd_" + "A" * 196,  # as long as a token may be
        "lwd_' OR 1=1 --",
        "lwd_\xe9\xff",
        good.upper(),
        good[:-1],
        good + "x",
        "lwu_" + good[4:],  # a user token's prefix on a device token's secret
    ]
    wrong = [f"lwd_{uuid.uuid4().hex}" for _ in range(200)] + hostile + [retired] * 3
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda t: post(live, t, [summary(world.lesson_3b)]), wrong))
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["error"]["code"] for a in answers} == {"unauthorized"}
    assert len(intake.cache) == 1
    looked_up = intake.lookups.jobs
    answer = post(live, good, [summary(world.lesson_3b)])
    assert answer.json()["results"][0]["status"] == "accepted"
    assert intake.lookups.jobs == looked_up, "served from the cache, not the database"


def test_last_seen_is_a_day_written_once_a_day(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """last_seen is the school-local day, never the time (issue 15): thirty report requests and
    five config fetches on the day after enrolment write it once, as the start of that day in
    Amsterdam; a poll late that evening writes nothing; one after midnight in Amsterdam (still
    the day before in UTC) writes the next day."""
    from sqlalchemy import event

    from service.models import Device

    (token,) = tokens(sessions, clock, world.code_3b, 1)
    engine = live.app.state.runtime.engine
    writes: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DEVICES"):
            writes.append(statement)

    def fetch_config() -> None:
        answer = requests.get(
            live.url + "/api/v1/agent/config",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 200

    def last_seen() -> datetime | None:
        with sessions.begin() as session:
            return session.get_one(Device, device_of(sessions, token)).last_seen

    assert last_seen() == utc(23, days=-1)  # enrolled on the school day: its start in Amsterdam
    clock.now = utc(7, 10, days=1)  # 08:10 the next morning in Amsterdam
    event.listen(engine, "before_cursor_execute", note)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(lambda _: post(live, token, [summary(world.lesson_3b)]), range(30))
            )
        for _ in range(5):
            fetch_config()
        assert {a.status_code for a in answers} == {200}
        assert len(writes) == 1
        assert last_seen() == utc(23)
        clock.now = utc(21, 40, days=1)  # 22:40 in Amsterdam: the same day
        fetch_config()
        assert len(writes) == 1 and last_seen() == utc(23)
        clock.now = utc(23, 30, days=1)  # 00:30 in Amsterdam: the day after
        fetch_config()
        assert len(writes) == 2 and last_seen() == utc(23, days=1)
    finally:
        event.remove(engine, "before_cursor_execute", note)
