"""The lessonwatch-policy command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policies", *args], capture_output=True, text=True, timeout=60
    )


def test_check_accepts_the_shipped_policy() -> None:
    """check validates the shipped files and says what it loaded."""
    done = run("check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("policy OK: 7 rules")
    assert "rules.toml, catalog.toml, capture.toml" in done.stdout


def test_check_refuses_a_broken_override_naming_file_and_line(tmp_path: Path) -> None:
    """A broken override exits 1 with file, line and problem, and prints no policy."""
    bad = tmp_path / "school.toml"
    bad.write_text('[settings]\ngrace_seconds = 30\ndisclosure = "all"\n', encoding="utf-8")
    done = run("check", "--override", str(bad))
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"{bad}:3: setting 'disclosure' must be one of" in done.stderr


def test_explain_in_dutch_and_english_names_every_rule() -> None:
    """explain prints every article and statement in the chosen language."""
    nl, en = run("explain", "--lang", "nl"), run("explain", "--lang", "en")
    assert nl.returncode == en.returncode == 0
    assert nl.stdout.startswith("Wat lessonwatch controleert")
    assert en.stdout.startswith("What lessonwatch checks")
    for article in ("A.1", "A.7", "B.1", "A.6", "C"):
        assert f"  {article}" in nl.stdout and f"  {article}" in en.stdout
    assert "Telegram" in en.stdout and "Nooit schermafbeeldingen" in nl.stdout


def test_explain_json_reflects_an_override(tmp_path: Path) -> None:
    """explain --json shows the effective policy, overrides included."""
    override = tmp_path / "school.toml"
    override.write_text(
        '[settings]\nsample_seconds = 30\n[rules."a1-video-streaming"]\nenabled = true\n',
        encoding="utf-8",
    )
    done = run("explain", "--lang", "en", "--json", "--override", str(override))
    data = json.loads(done.stdout)
    assert "Every 30 seconds" in data["timing"]
    streaming = next(r for r in data["rules"] if r["id"] == "a1-video-streaming")
    assert streaming["enabled"] is True
    assert "YouTube" in data["apps"]["video streaming"]
