"""Fixtures for the web pages: the demo school on a real collector (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# With --import-mode=importlib test folders are not on sys.path; the shared builders are.
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "service"))

import browser_helpers  # noqa: E402
from collector_helpers import FakeClock  # noqa: E402
from playwright.sync_api import Browser  # noqa: E402
from web_helpers import NOW, Demo, start_demo  # noqa: E402

from service.web import WebSettings  # noqa: E402

# The collector tests' backend fixture (SQLite, and PostgreSQL in a schema of its own).
_spec = importlib.util.spec_from_file_location(
    "service_fixtures", HERE.parent / "service" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_service_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_service_fixtures)
db_url = _service_fixtures.db_url
password_hash = _service_fixtures.password_hash
sessions = _service_fixtures.sessions


@pytest.fixture
def web_clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def demo(db_url: str, web_clock: FakeClock) -> Iterator[Demo]:
    """The demo school on SQLite and PostgreSQL, served over HTTP, demo mode on."""
    yield from start_demo(db_url, web_clock, WebSettings(demo=True))


@pytest.fixture
def demo_sqlite(tmp_path: Path, web_clock: FakeClock) -> Iterator[Demo]:
    """The demo school on SQLite only, for the many input tests that do not touch storage rules."""
    yield from start_demo(
        f"sqlite:///{tmp_path / 'web.sqlite3'}", web_clock, WebSettings(demo=True)
    )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, one per test module (see browser_helpers)."""
    yield from browser_helpers.launch()
