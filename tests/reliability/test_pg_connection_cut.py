"""The PostgreSQL connection cut while a batch is being stored: the agent's retry stores the
batch, and nothing is lost or stored twice, wherever the cut falls."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy.engine import make_url

from service.app import create_app
from service.settings import Settings
from tests.reliability.reliability_helpers import (
    School,
    make_school,
    migrate,
    schema_url,
    stored_ids,
)
from tests.reliability.tcp_proxy import CuttingProxy, Trigger
from tests.support.collector import finding, live_server, summary

pytestmark = pytest.mark.postgres
TIMEOUT = 30
BATCH = 200
INSERT = b"INSERT INTO device_lesson_summaries"


@pytest.fixture
def proxy() -> Iterator[CuttingProxy]:
    url = make_url(os.environ["LESSONWATCH_TEST_PG"])
    cutter = CuttingProxy((url.host or "127.0.0.1", url.port or 5432))
    yield cutter
    cutter.close()


def through(proxy: CuttingProxy, schema: str) -> str:
    """The test database's URL in ``schema``, reached through the proxy, without TLS."""
    base = make_url(os.environ["LESSONWATCH_TEST_PG"]).set(host="127.0.0.1", port=proxy.port)
    url = schema_url(base.render_as_string(hide_password=False), schema)
    return make_url(url).update_query_dict({"sslmode": "disable"}).render_as_string(False)


def post(base: str, token: str, batch: list[dict[str, object]]) -> requests.Response:
    return requests.post(
        base + "/api/v1/agent/reports",
        json={"reports": batch},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize(
    ("trigger", "retried_as"),
    [
        # The insert never reaches PostgreSQL: the transaction dies with the connection.
        (Trigger([INSERT], "before"), "accepted"),
        # PostgreSQL ran the insert, but the connection dies before COMMIT: rolled back.
        (Trigger([INSERT], "after"), "accepted"),
        # COMMIT reached PostgreSQL and the answer was lost: stored, so the retry is a duplicate.
        (Trigger([INSERT, b"COMMIT"], "after"), "duplicate"),
    ],
    ids=["before-insert", "after-insert", "commit-answer-lost"],
)
def test_batch_survives_a_cut_connection(
    proxy: CuttingProxy, pg_schema: str, trigger: Trigger, retried_as: str
) -> None:
    """A batch whose database connection is cut answers 500; the retry stores each item once."""
    url = through(proxy, pg_schema)
    migrate(url)
    school: School = make_school(url)
    batch = [
        summary(
            school.lesson_id,
            [finding("telegram", 300)],
            started=school.lesson_start,
            ended=school.lesson_end,
            report_id=str(uuid.uuid4()),
        )
        for _ in range(BATCH)
    ]
    # One device sends the batch three times over: more than a lesson's bound of summaries.
    settings = Settings(
        db=url, purge_interval_seconds=0, device_burst=1000, max_summaries_per_lesson=1000
    )
    with live_server(create_app(settings)) as live:
        token = school.device_tokens[0]
        proxy.arm(trigger)
        first = post(live.url, token, batch)
        assert proxy.cuts == 1
        assert first.status_code == 500, first.text
        assert first.json()["error"]["code"] == "internal_error"
        # The agent retries a 5xx; the pool replaces the dead connection (pre-ping).
        retry = post(live.url, token, batch)
        assert retry.status_code == 200, retry.text
        statuses = {r["status"] for r in retry.json()["results"]}
        assert statuses == {retried_as}
        again = post(live.url, token, batch)
        assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
    stored = stored_ids(url)
    assert set(stored) == {item["report_id"] for item in batch}
    assert set(stored.values()) == {1}
