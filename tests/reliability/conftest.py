"""Fixtures for the reliability suites: a school to post against, and a bare PostgreSQL schema
for the test that routes its connection through a cutting proxy.

``db_url`` (a migrated database of the test's own on each backend) comes from
tests/support/databases.py. When PostgreSQL is unreachable its tests fail under CI=true and
skip, saying why, otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.reliability.reliability_helpers import School, make_school
from tests.support.databases import pg_admin


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


@pytest.fixture
def school(db_url: str) -> School:
    return make_school(db_url)
