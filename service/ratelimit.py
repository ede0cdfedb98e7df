"""Token buckets for request rate limits, kept in process memory.

Rate limiting is the one thing the collector keeps in memory: it protects the server, it is not
correctness. With several collector processes each applies the limit on its own, so a device
may make up to N times the rate across N processes. ``allow`` is pure; ``Limiter`` holds the
buckets, bounded in number so a flood of keys cannot grow memory without end.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # monotonic seconds of the last update


def allow(
    bucket: Bucket | None, *, now: float, rate_per_second: float, burst: int
) -> tuple[Bucket, float]:
    """The bucket after one request at ``now`` and the seconds to wait (0.0 when allowed)."""
    if bucket is None:
        bucket = Bucket(float(burst), now)
    tokens = min(float(burst), bucket.tokens + max(now - bucket.at, 0.0) * rate_per_second)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0.0
    return Bucket(tokens, now), (1.0 - tokens) / rate_per_second


class Limiter:
    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def waiting(self, key: str, now: float) -> int:
        """Like ``check`` but spends nothing: for limits that count failures, not attempts."""
        with self._lock:
            bucket = self._buckets.get(key)
        if bucket is None:
            return 0
        tokens = min(float(self._burst), bucket.tokens + max(now - bucket.at, 0.0) * self._rate)
        # Rounded first: 1 / (1/180) is 180.00000000000003, which is not 181 seconds.
        return 0 if tokens >= 1.0 else math.ceil(round((1.0 - tokens) / self._rate, 6))

    def check(self, key: str, now: float) -> int:
        """0 when the request may go ahead, else the whole seconds to put in Retry-After."""
        with self._lock:
            bucket, wait = allow(
                self._buckets.pop(key, None),
                now=now,
                rate_per_second=self._rate,
                burst=self._burst,
            )
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return math.ceil(wait) if wait > 0 else 0
