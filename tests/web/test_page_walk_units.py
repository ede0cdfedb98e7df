"""The parts of the page walk (tests/web/test_every_page.py) that need no browser: axe-core's
set-up (present, it is used; missing, the walk skips on a developer's machine and fails under
CI, never counting a skip as a pass) and what a ``<time>`` must show in the school's zone.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import axe
from tests.support.page_checks import expected_text

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("ci", "present", "outcome"),
    [
        ("true", True, "found"),
        ("", True, "found"),
        ("true", False, "fails"),
        ("TRUE", False, "fails"),
        ("", False, "skips"),
        ("false", False, "skips"),
    ],
)
def test_a_missing_axe_core_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, present: bool, outcome: str
) -> None:
    script = tmp_path / "axe.min.js"
    if present:
        script.write_text("window.axe = {};")
    monkeypatch.setattr(axe, "AXE", script)
    monkeypatch.setenv("CI", ci)
    raised = {"fails": pytest.fail.Exception, "skips": pytest.skip.Exception}
    if outcome == "found":
        assert axe.require_axe() == script
    else:
        with pytest.raises(raised[outcome], match="npm ci"):
            axe.require_axe()


def test_the_pinned_axe_core_is_the_one_the_lock_file_names() -> None:
    """package.json pins the version exactly and package-lock.json agrees, so `npm ci` installs
    the same axe-core on every machine."""
    root = Path(__file__).resolve().parents[2]
    wanted = json.loads((root / "package.json").read_text())["devDependencies"]["axe-core"]
    locked = json.loads((root / "package-lock.json").read_text())["packages"]
    assert wanted[0].isdigit() and locked["node_modules/axe-core"]["version"] == wanted


@pytest.mark.parametrize(
    ("stamp", "text", "expected"),
    [
        ("2026-11-24T09:45:00Z", "10:45", "10:45"),  # winter: UTC+1
        ("2026-11-24T09:45:00Z", "di 24 nov 10:45", "10:45"),
        ("2026-06-24T09:45:00Z", "11:45", "11:45"),  # summer: UTC+2
        ("2026-10-25T00:30:00Z", "02:30", "02:30"),  # the night the clocks go back, still +2
        ("2026-10-25T01:30:00Z", "02:30", "02:30"),  # ...and an hour later, +1 again
        ("2026-11-24T23:30:00Z", "woensdag 25 november", "25"),  # a day, local: the next one
        ("2026-11-24", "24 november", "24"),
        ("PT5M", "5 minuten", None),
    ],
)
def test_a_time_element_must_show_its_moment_in_the_schools_zone(
    stamp: str, text: str, expected: str | None
) -> None:
    assert expected_text(stamp, text, AMSTERDAM) == expected
