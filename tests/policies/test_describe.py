"""The policy in words (policies.describe): one description of the effective policy, and the
differences an override would make, both pure, checked as tables."""

from __future__ import annotations

from dataclasses import fields

import pytest

from policies import effective_document, policy_from_document
from policies.describe import SETTINGS, describe, differences
from policies.model import Policy, Settings
from tests.policies.describe_cases import changed


def _with(override: str) -> Policy:
    return policy_from_document(effective_document([("school.toml", override)]))


def test_every_rule_says_what_when_and_for_whom(shipped: Policy) -> None:
    rules = {r["id"]: r for r in describe(shipped, "en")["rules"]}
    assert rules.keys() == {r.id for r in shipped.rules}
    assert rules["a1-social-media"]["audience"] == ["pupils' devices"]
    assert rules["c-staff-work-time"]["audience"] == ["staff devices"]
    assert rules["c-staff-work-time"]["enabled"] is False
    assert rules["a7-recording-remote"]["when"] == ["during remote lessons of their group"]
    assert rules["a7-recording-remote"]["permission"] == "No permission can lift it."
    assert rules["b1-group-chat"]["categories"] == []


def test_categories_list_their_apps_per_platform(shipped: Policy) -> None:
    categories = {c["id"]: c for c in describe(shipped, "en")["categories"]}
    social = {p["platform"]: p["apps"] for p in categories["social_media"]["platforms"]}
    assert "Telegram" in social["Windows"] and "Telegram" in social["Browser"]
    assert categories["social_media"]["rules"] == ["A.1"]
    # A category no enabled rule covers says so; signals are listed beside the apps.
    assert categories["video_call"]["rules"] == []
    assert categories["camera"]["signals"] == ["camera"]


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("", "sample_seconds", "every 15 seconds"),
        ("[settings]\nsample_seconds = 1\n", "sample_seconds", "every second"),
        (
            "[settings]\ngrace_seconds = 30\n",
            "grace_seconds",
            "shorter than 30 seconds does not count",
        ),
        ("", "small_count_threshold", "3 devices"),
        (
            '[settings]\ndisclosure = "pseudonymous"\n',
            "disclosure",
            "pseudonymous device labels and totals",
        ),
        ("[settings]\ndevice_allow_categories = []\n", "device_allow_categories", "no category"),
        ("", "browser_reminder", "off"),
        (
            "[settings]\nbrowser_reminder = true\n",
            "browser_reminder",
            "shown to the pupil when a finding starts; nothing more is sent",
        ),
    ],
)
def test_settings_show_the_value_in_force(override: str, key: str, value: str) -> None:
    settings = {s["key"]: s["value"] for s in describe(_with(override), "en")["settings"]}
    assert settings[key] == value
    assert "minutes before the first lesson" in settings["contact"]


def test_every_setting_has_a_name_and_a_value_in_words(shipped: Policy) -> None:
    """A setting added to the policy is described too (a new boolean once broke the preview)."""
    assert {f.name for f in fields(Settings)} == set(SETTINGS)
    for setting in describe(shipped, "nl")["settings"]:
        assert setting["value"].strip()


@pytest.mark.parametrize(
    ("override", "changes"),
    [
        ("", []),
        ("# only a comment\n", []),
        (
            "[settings]\ngrace_seconds = 30\n",
            [
                (
                    "changed",
                    "Shortest episode that counts: shorter than 60 seconds does not count "
                    "becomes shorter than 30 seconds does not count",
                )
            ],
        ),
        (
            '[rules."a1-video-streaming"]\nenabled = true\n',
            [("changed", "Rule A.1 (a1-video-streaming) is switched on")],
        ),
        (
            '[family.roblox]\nname = "Roblox"\ncategory = "social_media"\n'
            'windows.exe = ["RobloxPlayerBeta.exe"]\n',
            [("added", "New app Roblox in social media (Windows)")],
        ),
        (
            '[capture]\nimage = [".jxl"]\n',
            [("added", "A new .jxl file counts as an image")],
        ),
        (
            "[settings]\nbrowser_reminder = true\n",
            [
                (
                    "changed",
                    "Reminder in the browser extension: off becomes shown to the pupil when a "
                    "finding starts; nothing more is sent",
                )
            ],
        ),
    ],
)
def test_an_override_is_described_by_what_it_changes(
    shipped: Policy, override: str, changes: list[tuple[str, str]]
) -> None:
    found = differences(shipped, _with(override), "en")
    assert [(c["kind"], c["text"]) for c in found] == changes


def test_taking_an_override_away_reads_as_the_reverse(shipped: Policy) -> None:
    forward = differences(shipped, changed(), "en")
    back = differences(changed(), shipped, "en")
    assert len(forward) == len(back) == 16
    assert {c["kind"] for c in forward} == {"added", "changed"}
    assert ("removed", "Rule X.1 (x-gaming) is no longer there") in [
        (c["kind"], c["text"]) for c in back
    ]
    assert ("removed", "App Roblox is no longer recognised") in [
        (c["kind"], c["text"]) for c in back
    ]


def test_the_description_speaks_dutch(shipped: Policy) -> None:
    described = describe(shipped, "nl")
    assert described["rules"][0]["audience"] == ["apparaten van leerlingen"]
    assert {s["value"] for s in described["settings"]} >= {"elke 15 seconden", "3 apparaten"}
    assert differences(shipped, changed(), "nl")[-1]["text"] == (
        "Een nieuw .qcp-bestand telt als een geluidsopname"
    )
