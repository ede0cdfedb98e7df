"""What the routes share: settings, the session factory, the clocks and the rate limiters.

Built once by ``create_app`` and kept on ``app.state``; tests pass their own clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from service.errors import RateLimited, Unauthorized
from service.ratelimit import Limiter
from service.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    device_limiter: Limiter = field(init=False)
    enrol_limiter: Limiter = field(init=False)
    # Asking for the fingerprint key takes an enrolment code too: the enrolment's limits, counted
    # apart so a device's two requests at enrolment do not halve what a class can enrol at once.
    key_limiter: Limiter = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.device_limiter = Limiter(per_minute=s.device_rate_per_minute, burst=s.device_burst)
        self.enrol_limiter = Limiter(per_minute=s.enrol_rate_per_minute, burst=s.enrol_burst)
        self.key_limiter = Limiter(per_minute=s.enrol_rate_per_minute, burst=s.enrol_burst)

    def limit(self, limiter: Limiter, key: str) -> None:
        wait = limiter.check(key, self.monotonic())
        if wait:
            raise RateLimited("too many requests; retry later", retry_after=wait)


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


def bearer_token(request: Request) -> str:
    return bearer(request.headers.get("authorization", ""))


def bearer(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header's value; Unauthorized else."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 200:
        raise Unauthorized("send Authorization: Bearer <token>")
    return token.strip()
