"""Secrets the collector hands out: device tokens, API tokens, enrolment codes, passwords.

Tokens and codes are long random strings, so a SHA-256 of them is enough to store (a slow hash
only matters for guessable secrets); passwords, which people choose, get argon2. The prefixes
keep the two token kinds apart: ``lwd_`` for devices, ``lwu_`` for users' API tokens.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEVICE_TOKEN_PREFIX = "lwd_"
USER_TOKEN_PREFIX = "lwu_"
# No 0/O, 1/I/L: codes are read aloud and typed from a whiteboard.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


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


def normalise_code(code: str) -> str:
    """Codes are typed by people: ignore case, spaces and dashes."""
    return "".join(c for c in code.upper() if c.isalnum())


def code_hash(code: str) -> str:
    return token_hash("code:" + normalise_code(code))


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
