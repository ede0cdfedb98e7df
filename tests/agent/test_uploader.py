"""Uploading: answered rows leave the queue, everything else waits with backoff."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import backoff
from agent.client import Collector
from agent.outbox import Outbox
from agent.uploader import Uploader, classify
from policies.wire import Coverage, FindingTotal, LessonSummary
from tests.agent.standin import Standin
from tests.reliability.tcp_proxy import CuttingProxy, Trigger
from tests.support.waiting import wait_for


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "done"),
        (401, "unauthorized"),
        (429, "retry"),
        (408, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (400, "park"),
        (413, "park"),
        (422, "park"),
        (404, "park"),
        (302, "retry"),
    ],
)
def test_classify(status: int, outcome: str) -> None:
    """429, 408, 5xx and surprises are retried; 401 stops uploads; other 4xx are kept unsent."""
    assert classify(status) == outcome


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 1.0, 5.0),
        (1, 1.0, 10.0),
        (3, 0.5, 20.0),
        (20, 1.0, 900.0),
        (20, 0.0, 0.0),
        (10**6, 1.0, 900.0),
    ],
)
def test_backoff_caps_before_jitter(attempt: int, rand: float, expected: float) -> None:
    """The wait is uniform over [0, min(cap, base * 2^n)]: the cap never kills the spread."""
    assert backoff.delay(attempt, lambda: rand) == expected


NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Tue, 24 Nov 2026 10:01:00 GMT", 60.0),
        ("Tue, 24 Nov 2026 09:00:00 GMT", 0.0),
        ("999999999", backoff.MAX_RETRY_AFTER),
        ("-5", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    """Retry-After is read as seconds or as an HTTP date; nonsense is ignored."""
    assert backoff.retry_after(header, NOW) == expected


def summary_for(lesson_id: str, family: str = "telegram") -> LessonSummary:
    now = datetime.now(UTC).replace(microsecond=0)
    return LessonSummary(
        report_id=str(uuid.uuid4()),
        lesson_id=lesson_id,
        started_at=now - timedelta(minutes=10),
        ended_at=now,
        agent_version="0.1.0",
        coverage=Coverage(600, 40, 0, {"processes": "ok"}),
        findings=(
            FindingTotal("a1-social-media", "A.1", "social_media", family, 120, 1, 2, (0, 120, 0)),
        ),
    )


@pytest.fixture
def setup(collector: Standin, tmp_path: Path):
    code = collector.enrolment_code("3B")
    answer = Collector(collector.url).enroll(code=code, label=None, fingerprint="f" * 64)
    lesson = collector.add_lesson(
        "3B", datetime.now(UTC) - timedelta(minutes=20), datetime.now(UTC) - timedelta(minutes=1)
    )
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    up = Uploader(box, Collector(collector.url, answer["token"]), rand=lambda: 1.0)
    return collector, box, up, lesson


def queue(box: Outbox, summary: LessonSummary) -> str:
    return box.enqueue(
        lambda dropped: summary, now=datetime.now(UTC), not_before=datetime.now(UTC)
    ).report_id


def test_accepted_duplicate_and_rejected_all_leave_the_queue(
    setup, caplog: pytest.LogCaptureFixture
) -> None:
    """Every answered item is deleted; a rejected one is logged with its reason, not its payload."""
    collector, box, up, lesson = setup
    good = queue(box, summary_for(lesson))
    bad = queue(box, summary_for(lesson, family="not-a-family"))
    with caplog.at_level(logging.INFO, logger="agent.uploader"):
        up.run(datetime.now(UTC))
    assert box.counts()["queued"] == 0
    assert [r["report_id"] for r in collector.reports()] == [good]
    assert f"summary {bad} rejected: unknown app family 'not-a-family'" in caplog.text
    assert '"findings"' not in caplog.text
    # One routine line per upload, counts only.
    routine = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert routine == ["upload: 2 of 2 summaries answered (1 accepted, 1 rejected)"]
    # Sent again (as after a crash before the delete): a duplicate, deleted, stored once.
    again = summary_for(lesson)
    again = LessonSummary(
        good,
        again.lesson_id,
        again.started_at,
        again.ended_at,
        again.agent_version,
        again.coverage,
        again.findings,
    )
    queue(box, again)
    up.run(datetime.now(UTC))
    assert box.counts()["queued"] == 0 and len(collector.reports()) == 1


def test_rate_limit_honours_retry_after(setup) -> None:
    """A 429 keeps the rows and waits at least Retry-After before the next try."""
    collector, box, up, lesson = setup
    queue(box, summary_for(lesson))
    collector.fail(429, retry_after=120)
    now = datetime.now(UTC)
    following = up.run(now)
    assert box.counts()["queued"] == 1
    assert following is not None and following >= now + timedelta(seconds=120)
    assert up.run(now + timedelta(seconds=60)) == following  # not before its time
    up.run(following)
    assert box.counts()["queued"] == 0 and len(collector.reports()) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_back_off(setup, status: int) -> None:
    """5xx answers keep the rows and back off exponentially."""
    collector, box, up, lesson = setup
    queue(box, summary_for(lesson))
    collector.fail(status, times=2)
    now = datetime.now(UTC)
    first = up.run(now)
    second = up.run(first)
    assert (first - now).total_seconds() == pytest.approx(5, abs=0.01)
    assert (second - first).total_seconds() == pytest.approx(10, abs=0.01)
    up.run(second)
    assert box.counts()["queued"] == 0


def test_connection_refused_is_retried_not_dropped(setup) -> None:
    """A collector that is down (connection refused) means retry later, never drop."""
    collector, box, up, lesson = setup
    rid = queue(box, summary_for(lesson))
    collector.down()
    following = up.run(datetime.now(UTC))
    assert following is not None and box.counts()["queued"] == 1
    collector.up()
    up.run(following)
    assert [r["report_id"] for r in collector.reports()] == [rid]


def test_revoked_token_stops_uploads_and_keeps_the_queue(setup) -> None:
    """401 stops uploading until the device is enrolled again; nothing is deleted."""
    collector, box, up, lesson = setup
    queue(box, summary_for(lesson))
    collector.revoke_all()
    assert up.run(datetime.now(UTC)) is None
    assert up.unauthorized and box.counts()["queued"] == 1
    assert up.run(datetime.now(UTC)) is None


def test_answer_without_valid_results_deletes_nothing(setup) -> None:
    """A 200 whose results are not accepted/duplicate/rejected items deletes nothing."""
    collector, box, up, lesson = setup
    queue(box, summary_for(lesson))
    queue(box, summary_for(lesson))
    collector.ingest = lambda device, item: "junk"  # type: ignore[method-assign]
    up.run(datetime.now(UTC))
    assert box.counts()["queued"] == 2


def test_whole_batch_refusal_parks_rows(setup) -> None:
    """A 4xx for the whole batch (not 401/429) keeps the rows, unsent, for IT to see."""
    collector, box, up, lesson = setup
    queue(box, summary_for(lesson))
    collector.fail(422)
    up.run(datetime.now(UTC))
    assert box.counts() == {"queued": 1, "parked": 1, "dropped": 0}


def test_body_sent_is_the_stored_summary_verbatim(setup) -> None:
    """The upload sends exactly the JSON committed to the outbox."""
    collector, box, up, lesson = setup
    rid = queue(box, summary_for(lesson))
    (row,) = box.due(datetime.now(UTC))
    up.run(datetime.now(UTC))
    assert row.body.encode() in collector.traffic()
    assert json.loads(row.body)["report_id"] == rid


def test_upload_cut_off_before_its_answer_is_retried_soon_and_stored_once(setup) -> None:
    """The connection drops after the collector stored the batch, before its answer arrives
    (a laptop that sleeps or loses its network mid-upload): the rows stay queued, the next try
    is due after the first backoff step (5 s), not hours later, and sending the batch again is
    answered duplicate and empties the queue, with the summary stored once."""
    collector, box, _, lesson = setup
    token = Collector(collector.url).enroll(
        code=collector.enrolment_code("3B"), label=None, fingerprint="e" * 64
    )["token"]
    proxy = CuttingProxy(("127.0.0.1", collector.port))
    try:
        up = Uploader(box, Collector(f"http://127.0.0.1:{proxy.port}", token), rand=lambda: 1.0)
        rid = queue(box, summary_for(lesson))
        # The end of this one-summary batch: cut once it has reached the collector.
        proxy.arm(Trigger([b'"dropped":0}]}'], when="after"))
        now = datetime.now(UTC)
        following = up.run(now)
        assert proxy.cuts == 1
        assert following == now + timedelta(seconds=backoff.BASE_SECONDS)
        assert box.counts()["queued"] == 1 and box.due(following)
        assert up.last_error is not None and "unreachable" in up.last_error
        wait_for(lambda: [r["report_id"] for r in collector.reports()] == [rid])
        assert up.run(following) is None  # sent again: duplicate, deleted, nothing left
        assert box.counts() == {"queued": 0, "parked": 0, "dropped": 0}
        assert [r["report_id"] for r in collector.reports()] == [rid]
    finally:
        proxy.close()
