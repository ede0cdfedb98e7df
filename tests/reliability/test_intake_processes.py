"""Group commit and the token cache against real collector processes: one killed while sixteen
agents post single summaries (so groups are in flight) loses nothing it acknowledged, and a
device retired by another process is refused within the cache's time to live."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from service import db
from service.devices import registry as devices
from service.devices.token_cache import TTL_SECONDS
from tests.reliability.reliability_helpers import (
    CollectorProcess,
    School,
    make_school,
    stored_ids,
)
from tests.support.collector import finding, summary
from tests.support.ports import free_port

# Every agent here posts hundreds of summaries for one lesson: a load, not a hostile device.
UNLIMITED = {
    "LESSONWATCH_DEVICE_BURST": "100000",
    "LESSONWATCH_DEVICE_RATE_PER_MINUTE": "1e6",
    "LESSONWATCH_MAX_SUMMARIES_PER_LESSON": "100000",
}
AGENTS = 16


def item(school: School) -> dict[str, object]:
    return summary(
        school.lesson_id,
        [finding("telegram", 300)],
        started=school.lesson_start,
        ended=school.lesson_end,
        report_id=str(uuid.uuid4()),
    )


def post(http: requests.Session, base: str, token: str, items: list[object]) -> requests.Response:
    return http.post(
        base + "/api/v1/agent/reports",
        json={"reports": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


@dataclass
class Sender:
    """Posts one new summary at a time until stopped; remembers what was acknowledged and what
    got no answer (the collector died with it in flight)."""

    base: str
    token: str
    school: School
    acked: list[str] = field(default_factory=list)
    unanswered: list[dict[str, object]] = field(default_factory=list)
    sent: list[dict[str, object]] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        http = requests.Session()
        while not stop.is_set():
            one = item(self.school)
            self.sent.append(one)
            try:
                answer = post(http, self.base, self.token, [one])
            except requests.RequestException:
                self.unanswered.append(one)
                return
            if answer.status_code != 200:
                self.unanswered.append(one)
                return
            (result,) = answer.json()["results"]
            assert result == {"report_id": one["report_id"], "status": "accepted", "reason": None}
            self.acked.append(str(one["report_id"]))


@pytest.mark.slow
def test_killed_collector_loses_no_acknowledged_summary(db_url: str) -> None:
    """SIGKILL while sixteen agents post: every acknowledged summary is stored, none twice; after
    a restart the agents' retries of everything they sent end stored exactly once."""
    school = make_school(db_url, devices=AGENTS)
    collector = CollectorProcess(db_url, free_port(), UNLIMITED)
    stop = threading.Event()
    senders = [Sender(collector.url, token, school) for token in school.device_tokens]
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in senders]
    try:
        collector.start()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(len(s.acked) for s in senders) < 300:
            assert time.monotonic() < deadline, "the agents did not get 300 answers in 60 s"
            time.sleep(0.01)
        collector.kill(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        acked = [rid for s in senders for rid in s.acked]
        stored = stored_ids(db_url)
        assert not set(acked) - set(stored), "an acknowledged summary was lost"
        assert set(stored.values()) == {1}, "a summary was stored twice"
        sent = {str(i["report_id"]) for s in senders for i in s.sent}
        assert set(stored) <= sent
        assert sum(len(s.unanswered) for s in senders) > 0, "the kill came while agents posted"

        # The agents retry what got no answer, and (to be sure) replay everything once more.
        collector.start()
        http = requests.Session()
        for sender in senders:
            answer = post(http, collector.url, sender.token, list(sender.sent))
            assert answer.status_code == 200, answer.text
            statuses = {r["report_id"]: r["status"] for r in answer.json()["results"]}
            assert {statuses[rid] for rid in sender.acked} <= {"duplicate"}
            assert set(statuses.values()) <= {"accepted", "duplicate"}
    finally:
        stop.set()
        collector.stop()
    stored = stored_ids(db_url)
    assert set(stored) == sent
    assert set(stored.values()) == {1}


def retire_with_the_command(db_url: str, device_id: str) -> None:
    script = Path(sys.executable).with_name("lessonwatch-service")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "service"]
    subprocess.run(
        [*command, "devices", "retire", device_id, "--db", db_url],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.slow
def test_device_retired_by_another_process_is_refused_within_the_ttl(
    db_url: str, school: School
) -> None:
    """A device retired with the command line (another process) while its token is cached in the
    collector: its config is refused at once (checked in the database), its reports within
    TTL_SECONDS, and from then on every time."""
    token = school.device_tokens[0]
    engine = db.make_engine(db_url)
    with db.session_factory(engine).begin() as session:
        device_id = devices.device_for_token(session, token).id
    engine.dispose()
    collector = CollectorProcess(db_url, free_port(), UNLIMITED)
    http = requests.Session()
    try:
        collector.start()
        assert post(http, collector.url, token, [item(school)]).status_code == 200
        retire_with_the_command(db_url, device_id)
        retired_at = time.monotonic()
        config = http.get(
            collector.url + "/api/v1/agent/config",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert config.status_code == 401
        accepted_after = 0
        while True:
            answer = post(http, collector.url, token, [item(school)])
            if answer.status_code == 401:
                refused_after = time.monotonic() - retired_at
                break
            assert answer.status_code == 200, answer.text
            accepted_after += 1
            assert time.monotonic() - retired_at < TTL_SECONDS + 5, "still accepted past the TTL"
            time.sleep(0.1)
        for _ in range(5):
            assert post(http, collector.url, token, [item(school)]).status_code == 401
    finally:
        collector.stop()
    print(f"refused {refused_after:.1f} s after retiring, {accepted_after} accepted meanwhile")
    assert refused_after <= TTL_SECONDS + 1
