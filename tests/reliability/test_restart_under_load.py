"""The collector killed and restarted while agents post: every summary it acknowledged is stored,
and the agents' retries of unacknowledged batches end as accepted or duplicate, never doubled."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from tests.reliability.reliability_helpers import CollectorProcess, School, stored_ids
from tests.support.collector import finding, summary
from tests.support.ports import free_port

BATCHES = 60
BATCH_SIZE = 5
DEADLINE_SECONDS = 120
# Every agent here posts hundreds of summaries for one lesson: a load, not a hostile device.
UNLIMITED = {
    "LESSONWATCH_DEVICE_BURST": "100000",
    "LESSONWATCH_DEVICE_RATE_PER_MINUTE": "1e6",
    "LESSONWATCH_MAX_SUMMARIES_PER_LESSON": "100000",
}


@dataclass
class Agent:
    """Posts its batches in order and retries each one, as the real agent's uploader does:
    connection failures and 5xx again after a short backoff, until acknowledged."""

    base: str
    token: str
    batches: list[list[dict[str, object]]]
    acked: Counter[str] = field(default_factory=Counter)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    failures: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, stop_at: float) -> None:
        session = requests.Session()
        for batch in self.batches:
            delay = 0.02
            while time.monotonic() < stop_at:
                try:
                    answer = session.post(
                        self.base + "/api/v1/agent/reports",
                        json={"reports": batch},
                        headers={"Authorization": f"Bearer {self.token}"},
                        timeout=10,
                    )
                except requests.RequestException:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    for result in answer.json()["results"]:
                        self.statuses.append((result["report_id"], result["status"]))
                        self.acked[result["report_id"]] += 1
                    break
                assert answer is None or answer.status_code >= 500, answer.text
                self.failures += 1
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        self.done.set()


def batches_for(school: School) -> list[list[dict[str, object]]]:
    return [
        [
            summary(
                school.lesson_id,
                [finding("telegram", 300)],
                started=school.lesson_start,
                ended=school.lesson_end,
                report_id=str(uuid.uuid4()),
            )
            for _ in range(BATCH_SIZE)
        ]
        for _ in range(BATCHES)
    ]


def wait_for(predicate: Callable[[], bool], deadline: float) -> None:
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the agents"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_restart_under_load_loses_nothing(school: School, sig: signal.Signals) -> None:
    """Two agents post while the collector is stopped twice mid-load and started again."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    collector = CollectorProcess(school.url, free_port(), UNLIMITED)
    agents = [Agent(collector.url, token, batches_for(school)) for token in school.device_tokens]
    threads = [threading.Thread(target=a.run, args=(deadline,), daemon=True) for a in agents]
    try:
        collector.start()
        for thread in threads:
            thread.start()

        def acked() -> int:
            return sum(len(a.statuses) for a in agents)

        # Stop it twice while both agents are mid-stream, then start it again.
        for stop_after in (BATCH_SIZE * 20, BATCH_SIZE * 60):
            wait_for(lambda n=stop_after: acked() >= n, deadline)
            collector.kill(sig)
            collector.start()
        for agent in agents:
            assert agent.done.wait(max(deadline - time.monotonic(), 0))
        for thread in threads:
            thread.join(timeout=10)
    finally:
        collector.stop()

    assert sum(a.failures for a in agents) > 0, "the stops happened while the agents posted"
    sent = {item["report_id"] for a in agents for batch in a.batches for item in batch}
    stored = stored_ids(school.url)
    assert set(stored) == sent, "every summary sent was acknowledged and stored"
    assert set(stored.values()) == {1}, "nothing is stored twice"
    for agent in agents:
        assert set(agent.acked) == {i["report_id"] for b in agent.batches for i in b}
        assert {status for _, status in agent.statuses} <= {"accepted", "duplicate"}
        accepted = Counter(rid for rid, status in agent.statuses if status == "accepted")
        assert set(accepted.values()) <= {1}, "no report is accepted twice"
