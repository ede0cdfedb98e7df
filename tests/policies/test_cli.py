"""The lessonwatch-policy command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policies", *args], capture_output=True, text=True, timeout=60
    )


def test_check_accepts_the_shipped_policy_and_says_so_in_dutch_by_default() -> None:
    """check validates the shipped files and says what it loaded, each count with its own
    plural; Dutch unless --lang en."""
    from policies.load import load_policy

    policy = load_policy([])
    rules, on = len(policy.rules), sum(r.enabled for r in policy.rules)
    nl, en = run("check"), run("check", "--lang", "en")
    assert nl.returncode == en.returncode == 0, nl.stderr + en.stderr
    assert nl.stdout.splitlines()[:2] == ["Beleid in orde.", f"{rules} regels ({on} aan)"]
    assert en.stdout.splitlines()[:2] == ["Policy OK.", f"{rules} rules ({on} on)"]
    assert "rules.toml, catalog.toml, capture.toml" in nl.stdout


def test_check_summary_says_one_of_each_in_the_singular() -> None:
    from policies.cli import check_summary
    from policies.load import load_policy

    policy = load_policy([])
    one = replace(policy, rules=policy.rules[:1], families=dict(list(policy.families.items())[:1]))
    lines = check_summary(one, "nl").splitlines()
    assert lines[1].startswith("1 regel (") and lines[2] == "1 app-familie"


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
