"""The HTTP client facing a hostile or broken collector: clear errors, nothing else lost.

Each case runs twice: with ``Collector`` in the test's process, and with ``RemoteCollector``,
which the running agent uses (each contact in a short-lived ``python -m agent.remote``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.client import MAX_ANSWER_BYTES, Collector, Unreachable
from agent.errors import CollectorError
from agent.outbox import Outbox
from agent.remote import RemoteCollector
from agent.uploader import Uploader
from tests.agent.standin import Standin
from tests.agent.test_uploader import queue, summary_for


@pytest.fixture(params=[Collector, RemoteCollector], ids=["in-process", "apart"])
def link(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def device(collector: Standin, link: Any) -> Collector:
    code = collector.enrolment_code("3B")
    answer = link(collector.url).enroll(code=code, label=None, fingerprint="f" * 64)
    return link(collector.url, answer["token"])  # type: ignore[no-any-return]


def test_config_etag_round_trip(collector: Standin, device: Collector) -> None:
    """The second config fetch with the ETag is a 304 with a Date header."""
    first = device.config(None)
    assert first.status == 200 and first.headers["ETag"]
    second = device.config(first.headers["ETag"])
    assert second.status == 304 and second.body is None and second.headers["Date"]
    collector.add_lesson("3B", datetime.now(UTC), datetime.now(UTC) + timedelta(hours=1))
    assert device.config(first.headers["ETag"]).status == 200  # changed: a new body


def test_oversized_answer_is_not_read(collector: Standin, device: Collector) -> None:
    """An answer larger than any real config is refused without being read into memory."""
    collector.state.padding = MAX_ANSWER_BYTES + 10
    with pytest.raises(CollectorError, match="larger than"):
        device.config(None)


def test_oversized_report_answer_keeps_the_rows(
    collector: Standin, device: Collector, tmp_path: Path
) -> None:
    """A report answer that is too large is a failure to retry: the rows stay queued."""
    lesson = collector.add_lesson(
        "3B", datetime.now(UTC) - timedelta(minutes=20), datetime.now(UTC)
    )
    box = Outbox(tmp_path / "outbox.v1.sqlite")
    queue(box, summary_for(lesson))
    collector.state.padding = MAX_ANSWER_BYTES + 10
    following = Uploader(box, device, rand=lambda: 1.0).run(datetime.now(UTC))
    assert following is not None and box.counts()["queued"] == 1


@pytest.mark.parametrize("token", ["abc\r\nX-Evil: 1", "two words", "x" * 600, "ünïcode"])
def test_hostile_enrolment_token_is_refused(collector: Standin, link: Any, token: str) -> None:
    """A token that could not go safely into a header or a file is refused at enrolment."""
    collector.state.enroll_token = token
    code = collector.enrolment_code("3B")
    with pytest.raises(CollectorError):
        link(collector.url).enroll(code=code, label=None, fingerprint="f" * 64)


def test_not_json_answer(collector: Standin, device: Collector) -> None:
    """A 404 page (no JSON) is a CollectorError with the status, not a crash."""
    device.server = collector.url + "/nowhere"
    with pytest.raises(CollectorError) as exc:
        device.config(None)
    assert exc.value.status == 404


def test_unreachable(collector: Standin, device: Collector) -> None:
    """A collector that is down raises Unreachable, which callers retry."""
    collector.down()
    with pytest.raises(Unreachable):
        device.config(None)
