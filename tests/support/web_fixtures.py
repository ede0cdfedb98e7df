"""Fixtures for the page tests: the demo school on a real collector, and Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from service.web import WebSettings
from tests.support import browser as browser_helpers
from tests.support.clock import DEMO_NOW, FakeClock
from tests.support.databases import DemoDatabase
from tests.support.web import Demo, start_demo


@pytest.fixture
def web_clock() -> FakeClock:
    return FakeClock(DEMO_NOW)


@pytest.fixture
def demo(demo_db: DemoDatabase, web_clock: FakeClock) -> Iterator[Demo]:
    """The demo school on SQLite and PostgreSQL, served over HTTP, demo mode on."""
    yield from start_demo(demo_db, web_clock, WebSettings(demo=True))


@pytest.fixture
def demo_sqlite(demo_db_sqlite: DemoDatabase, web_clock: FakeClock) -> Iterator[Demo]:
    """The demo school on SQLite only, for the many input tests that do not touch storage rules."""
    yield from start_demo(demo_db_sqlite, web_clock, WebSettings(demo=True))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, one per test module (see tests/support/browser.py)."""
    yield from browser_helpers.launch()
