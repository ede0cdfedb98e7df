"""axe-core's set-up for the page walk (tests/support/axe.py): present, it is used; missing, the
walk skips on a developer's machine and fails under CI, never counting a skip as a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import axe


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
