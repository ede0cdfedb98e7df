"""Hygiene for every test: no test reads or writes the real user's directories or time zone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import settings

# Speed is measured by bench/, never by a test: hypothesis's 200 ms deadline per example is a
# timed test, and on a loaded 2-core run it failed properties for being slow (test_engine's
# catalog terms). A test that means a deadline sets one in its own @settings.
settings.register_profile("lessonwatch", deadline=None)
settings.load_profile("lessonwatch")

# Shared fixtures: databases (migrated once per worker and copied) and the demo school's pages.
pytest_plugins = ["tests.support.databases", "tests.support.web_fixtures"]


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


# Started first, so the long ones do not end the run alone: these each take many seconds.
_LONG_FIRST = (
    "tests/reliability/",
    "tests/packaging/test_deb.py",
    "tests/service/test_end_to_end",
    "tests/agent/test_real_collector.py",
    "tests/browser/test_extension_e2e.py",  # waits out a real lesson of seconds
)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start real processes under app names get a process world of their own.

    An agent sees every process on the machine, so a "Discord" started by one test would show
    up in another test's lesson if they ran at the same time on different workers: each such
    test gets its own PID namespace (``tests/support/process_world.py``). Where this machine
    cannot make one, those tests run on one worker, one after another.
    """
    from tests.support import process_world

    if not process_world.available():
        for item in items:
            if "spawn" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group("machine-processes"))

    items[:] = _run_order(items)


def _run_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Groups and the long tests first, then the rest with the tests that wait on real time
    (agents in lessons of a few seconds) spread evenly among the ones that keep a core busy.

    xdist hands out tests in this order; in collection order the waiting tests come together
    and every worker sleeps at once, leaving the cores idle.
    """
    first = [i for i in items if i.get_closest_marker("xdist_group")]
    first += [i for i in items if i not in first and i.nodeid.startswith(_LONG_FIRST)]
    chosen = set(first)
    rest = [i for i in items if i not in chosen]
    waiting = [i for i in rest if "spawn" in getattr(i, "fixturenames", ())]
    busy = [i for i in rest if "spawn" not in getattr(i, "fixturenames", ())]
    ordered: list[pytest.Item] = []
    step = len(busy) / (len(waiting) + 1)
    taken = 0
    for k, item in enumerate(waiting, start=1):
        upto = round(k * step)
        ordered += busy[taken:upto]
        ordered.append(item)
        taken = upto
    return first + ordered + busy[taken:]
