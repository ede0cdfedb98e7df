"""Secrets the collector hands out: device tokens, API tokens, enrolment codes, passwords, and
the schools' fingerprint keys.

Tokens and codes are long random strings, so a SHA-256 of them is enough to store (a slow hash
only matters for guessable secrets); passwords, which people choose, get argon2. The prefixes
keep the two token kinds apart: ``lwd_`` for devices, ``lwu_`` for users' API tokens.

Sign-in checks passwords through a ``Verifier``; the collector wraps argon2 in a
``BoundedVerifier`` so a flood of sign-ins (each a deliberately slow hash) cannot take the cores
the devices' requests need (issue 14).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.errors import RateLimited

DEVICE_TOKEN_PREFIX = "lwd_"
USER_TOKEN_PREFIX = "lwu_"
# No 0/O, 1/I/L: codes are read aloud and typed from a whiteboard.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# The nice value of the password-checking threads (0 normal, 19 lowest).
HASH_NICE = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_device_token() -> str:
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_user_token() -> str:
    return USER_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_id(prefix: str) -> str:
    """A pseudonymous id such as ``d_…`` or ``l_…`` that fits the wire's lesson-id pattern."""
    return prefix + secrets.token_urlsafe(12)


def new_enrolment_code() -> str:
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


def new_fingerprint_key() -> str:
    """A school's fingerprint key (issue 15): 32 random bytes as hex. Handed only to a device
    that holds a usable enrolment code of the school; never shown on a page, in an export or
    through any other API."""
    return secrets.token_hex(32)


def normalise_code(code: str) -> str:
    """Codes are typed by people: ignore case, spaces and dashes."""
    return "".join(c for c in code.upper() if c.isalnum())


def code_hash(code: str) -> str:
    return token_hash("code:" + normalise_code(code))


# The stored "hash" of an account that signs in only with the school's SSO: not an argon2 hash,
# so it matches no password (``verify_password`` is False for it), as "!" does in /etc/shadow.
NO_PASSWORD = "!sso-only"


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class Verifier(Protocol):
    def verify(self, stored: str, password: str) -> bool: ...


class Argon2Verifier:
    """The real check: argon2 reads its cost from ``stored``."""

    def verify(self, stored: str, password: str) -> bool:
        return verify_password(stored, password)


def _lower_priority() -> None:
    # On Linux the nice value is per thread (and inherited by argon2's own lane threads): the
    # password checks then get the cores only when the devices' requests leave them idle.
    # No setpriority on Windows: there the checks run unlowered, still bounded.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)


class BoundedVerifier:
    """Password checks in a pool of ``workers`` threads of lowered priority. A sign-in first
    asks to be ``admitted``: with ``workers + queue`` sign-ins already in, it is refused at once
    with ``RateLimited`` (429), before it takes a request thread or a database connection."""

    def __init__(self, inner: Verifier, *, workers: int, queue: int) -> None:
        self._inner = inner
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="lessonwatch-hash", initializer=_lower_priority
        )
        self._admitted = threading.BoundedSemaphore(workers + queue)

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        if not self._admitted.acquire(blocking=False):
            raise RateLimited("the collector is busy checking passwords; try again", retry_after=1)
        try:
            yield
        finally:
            self._admitted.release()

    def verify(self, stored: str, password: str) -> bool:
        return self._pool.submit(self._inner.verify, stored, password).result()
