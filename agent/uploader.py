"""Sending queued summaries: one batch per call, rows deleted only for answered items.

The decision what an HTTP answer means is ``classify``, a pure function of the status; the
``Uploader`` keeps the retry state between calls (attempt count, ``disabled_until``) and tells
the runner when to call again.

An upload cut off half-way (the laptop sleeps or loses its network mid-request, the agent is
killed) leaves nothing that has to expire: rows are never marked as being sent, so they stay
due in the outbox until an answer names them. The request in flight fails after at most
``client.TIMEOUT`` of waiting (socket waits run on the monotonic clock, which stands still while
the laptop sleeps: at most 15 s after it wakes), then the rows are tried again after the
backoff, 5 s at first, due by the wall clock so a long sleep does not push it further. A batch
the collector stored but could not answer is answered ``duplicate`` the next time and deleted
then: report ids make sending twice harmless, so retrying soon is always right.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from agent import backoff
from agent.errors import CollectorError
from agent.link import Link, Unreachable
from agent.outbox import Outbox

log = logging.getLogger(__name__)

Outcome = Literal["done", "retry", "unauthorized", "park"]
ITEM_STATES = ("accepted", "duplicate", "rejected")
DRAIN_PAUSE = timedelta(seconds=1)


def classify(status: int) -> Outcome:
    """What a whole-batch answer means for the rows in it."""
    if status == 200:
        return "done"
    if status == 401:
        return "unauthorized"
    if status in (408, 429) or status >= 500:
        return "retry"
    if 400 <= status < 500:
        return "park"  # a 4xx would be refused again: keep the rows, stop sending them
    return "retry"


@dataclass
class Uploader:
    outbox: Outbox
    collector: Link
    rand: Callable[[], float] = random.random
    backoff_base: float = backoff.BASE_SECONDS
    backoff_cap: float = backoff.CAP_SECONDS
    attempt: int = 0
    disabled_until: datetime | None = None
    unauthorized: bool = False
    last_error: str | None = None
    sent: int = 0

    def next_time(self, now: datetime) -> datetime | None:
        """When there is something to try, or None (nothing queued, or the token was refused)."""
        if self.unauthorized:
            return None
        due = self.outbox.next_due()
        if due is None:
            return None
        return max(due, self.disabled_until or due, now)

    def _retry(self, now: datetime, reason: str, after: float | None = None) -> None:
        wait = backoff.delay(self.attempt, self.rand, base=self.backoff_base, cap=self.backoff_cap)
        self.attempt += 1
        self.disabled_until = now + timedelta(seconds=max(wait, after or 0.0))
        self.last_error = reason
        log.warning("upload postponed until %s: %s", self.disabled_until.isoformat(), reason)

    def run(self, now: datetime) -> datetime | None:
        """Send one batch of due summaries; returns when to call again (None: nothing to do)."""
        if self.unauthorized or (self.disabled_until and now < self.disabled_until):
            return self.next_time(now)
        rows = self.outbox.due(now)
        if not rows:
            return self.next_time(now)
        try:
            answer = self.collector.reports([r.body for r in rows])
        except Unreachable as exc:
            self._retry(now, f"collector unreachable ({exc})")
            return self.next_time(now)
        except CollectorError as exc:
            self._retry(now, str(exc))
            return self.next_time(now)
        outcome = classify(answer.status)
        if outcome == "unauthorized":
            self.unauthorized = True
            self.last_error = "the collector refused this device's token: enrol again"
            log.error("upload: %s; the queue (%d rows) is kept", self.last_error, len(rows))
            return None
        if outcome == "park":
            self.outbox.park([r.report_id for r in rows], f"HTTP {answer.status}")
            log.error(
                "upload: collector refused the batch with %d; %d rows kept unsent",
                answer.status,
                len(rows),
            )
            return self.next_time(now)
        if outcome == "retry":
            after = backoff.retry_after(answer.headers.get("Retry-After"), now)
            self._retry(now, f"collector answered {answer.status}", after)
            return self.next_time(now)
        results = answer.body.get("results") if isinstance(answer.body, dict) else None
        if not isinstance(results, list) or len(results) != len(rows):
            self._retry(now, "collector answer does not list one result per summary")
            return self.next_time(now)
        answered = []
        states: Counter[str] = Counter()
        for row, item in zip(rows, results, strict=True):
            state = item.get("status") if isinstance(item, dict) else None
            if state not in ITEM_STATES:
                continue
            answered.append(row.report_id)
            states[str(state)] += 1
            if state == "rejected":
                # The reason only, never the payload: it is what the collector says it refused.
                log.error("summary %s rejected: %s", row.report_id, str(item.get("reason"))[:300])
        self.outbox.delete(answered)
        # The one routine line an upload writes (issue 15: one INFO line per upload).
        log.info(
            "upload: %d of %d summaries answered (%s)",
            len(answered),
            len(rows),
            ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none",
        )
        if answered:
            done = set(answered)
            self.outbox.remember_sent([r.body for r in rows if r.report_id in done], now)
        self.sent += len(answered)
        self.attempt = 0
        self.disabled_until = None
        self.last_error = None
        following = self.next_time(now)
        return None if following is None else max(following, now + DRAIN_PAUSE)
