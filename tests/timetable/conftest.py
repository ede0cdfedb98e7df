"""The collector's both-backend fixtures (SQLite and the real PostgreSQL) for the storage tests.

They are the ones of tests/service/conftest.py, imported so both folders test the same way: a
PostgreSQL test fails under CI=true when the server is unreachable and skips, saying why,
otherwise.
"""

from __future__ import annotations

from tests.service.conftest import clock, db_url, password_hash, sessions

__all__ = ["clock", "db_url", "password_hash", "sessions"]
