"""The pure and in-process parts of issue 14's sign-in defences: the headers per scheme, the
failure throttle per (name, address), the bounded password checks, and the limiter's peek."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.credentials import BoundedVerifier
from service.errors import RateLimited
from service.ratelimit import Limiter
from service.web import WebSettings
from service.web.headers import security_headers
from service.web.signin import SignInThrottle
from tests.support.clock import DEMO_NOW


class Accepting:
    """A verifier that accepts one password, for the pool's bookkeeping (argon2 is tested over
    HTTP in test_hostile_signin)."""

    def verify(self, stored: str, password: str) -> bool:
        return stored == password


@pytest.mark.parametrize(
    ("scheme", "hsts"),
    [
        ("https", True),
        ("http", False),  # over plain http HSTS means nothing, and a proxy may not be trusted
        ("", False),
    ],
)
def test_headers_per_scheme(scheme: str, hsts: bool) -> None:
    """Every scheme gets the CSP and nosniff; only https gets Strict-Transport-Security."""
    headers = security_headers(scheme)
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert headers["x-content-type-options"] == "nosniff"
    assert ("strict-transport-security" in headers) is hsts


@pytest.mark.parametrize(
    ("failures", "name", "address", "slowed"),
    [
        # the pair that failed
        (4, "devries", "203.0.113.9", False),
        (5, "devries", "203.0.113.9", True),
        (5, " DeVries ", "203.0.113.9", True),  # the name as typed, spaces and case aside
        # anyone else
        (5, "devries", "198.51.100.7", False),  # the teacher from elsewhere
        (5, "jansen", "203.0.113.9", False),
    ],
)
def test_throttle_slows_the_pair_that_failed_only(
    failures: int, name: str, address: str, slowed: bool
) -> None:
    """Failures of devries from one address slow that pair down and nobody else."""
    throttle = SignInThrottle(WebSettings(lockout_failures=5, lockout_minutes=15))
    for _ in range(failures):
        throttle.failed("devries", "203.0.113.9", now=DEMO_NOW)
    if slowed:
        with pytest.raises(RateLimited) as refused:
            throttle.check(name, address, now=DEMO_NOW)
        assert refused.value.retry_after == 180  # one try back every 15 / 5 minutes
    else:
        throttle.check(name, address, now=DEMO_NOW)


def test_throttle_gives_tries_back_with_time() -> None:
    """Three minutes (and a second, for the float) after the fifth failure the pair may try
    once more."""
    throttle = SignInThrottle(WebSettings(lockout_failures=5, lockout_minutes=15))
    for _ in range(5):
        throttle.failed("devries", "203.0.113.9", now=DEMO_NOW)
    throttle.check("devries", "203.0.113.9", now=DEMO_NOW + timedelta(minutes=3, seconds=1))


@pytest.mark.parametrize(("workers", "queue"), [(1, 0), (1, 4), (2, 3)])
def test_bounded_verifier_admits_workers_plus_queue(workers: int, queue: int) -> None:
    """``workers + queue`` sign-ins are admitted; the next is refused at once with a
    Retry-After, and one leaving lets the next in."""
    verifier = BoundedVerifier(Accepting(), workers=workers, queue=queue)
    with ExitStack() as admitted:
        for _ in range(workers + queue):
            admitted.enter_context(verifier.admitted())
        with pytest.raises(RateLimited) as refused, verifier.admitted():
            pass
        assert refused.value.retry_after == 1
    with verifier.admitted():
        assert verifier.verify("pw", "pw") and not verifier.verify("pw", "other")


@given(
    spent=st.lists(st.floats(min_value=0, max_value=600), max_size=30),
    later=st.floats(min_value=0, max_value=600),
)
def test_waiting_spends_nothing_and_predicts_check(spent: list[float], later: float) -> None:
    """``waiting`` leaves the bucket as it was and says 0 exactly when ``check`` would allow."""
    limiter = Limiter(per_minute=1, burst=3)
    now = 0.0
    for step in spent:
        now += step
        limiter.check("k", now)
    now += later
    first, second = limiter.waiting("k", now), limiter.waiting("k", now)
    assert first == second
    assert (first == 0) == (limiter.check("k", now) == 0)
