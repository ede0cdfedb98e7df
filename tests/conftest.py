"""Hygiene for every test: no test reads or writes the real user's directories or time zone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point HOME and the XDG directories at the test's own folder, and pin the time zone."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.delenv("LESSONWATCH_DB", raising=False)
    monkeypatch.delenv("LESSONWATCH_STATE_DIR", raising=False)
    # Europe/Amsterdam, not UTC: code that leans on the local zone by accident shows it here.
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    if hasattr(time, "tzset"):
        time.tzset()


def pytest_configure() -> None:
    os.environ.setdefault(
        "LESSONWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
