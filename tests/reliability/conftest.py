"""Fixtures for the reliability suites: a fresh database on each backend (a SQLite file, or a
PostgreSQL schema of the test's own, dropped afterwards) and a school to post against.

When PostgreSQL is unreachable its tests fail under CI=true and skip, saying why, otherwise.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# With --import-mode=importlib test folders are not on sys.path: put this one there, and the
# collector tests' shared builders (wire-format summaries, the loopback server), reused not copied.
sys.path.insert(0, str(Path(__file__).parents[1] / "service"))
sys.path.insert(0, str(Path(__file__).parent))

from reliability_helpers import (
    PG_ENV,
    School,
    make_school,
    migrate,
    pg_admin,
    schema_url,
)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema's name, dropped after the test."""
    schema = "lwrel_" + uuid.uuid4().hex[:12]
    with pg_admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL: a SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'collector.sqlite3'}"
        migrate(url)
        yield url
        return
    schema = request.getfixturevalue("pg_schema")
    url = schema_url(os.environ[PG_ENV], schema)
    migrate(url)
    yield url


@pytest.fixture
def school(db_url: str) -> School:
    return make_school(db_url)
