"""``explain`` on one device (issue 17, point 10): only the rules that concern that device, the
values the agent runs with, and every summary of the last lesson in words and verbatim."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.cli import _policy_in_force
from agent.explain import render
from policies import load_policy
from tests.agent.helpers import SNIPPING, sent_summary

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


# The last lesson's two summaries: the agent restarted during it.
SENT = [
    (sent_summary(1, [SNIPPING]), "2026-11-24 10:21"),
    (sent_summary(2, [], gaps=1), "2026-11-24 10:22"),
]


@pytest.mark.parametrize(
    ("audience", "lang", "shown", "hidden"),
    [
        # A pupil's laptop: the lesson rules and the group-chat rules, never the staff rule.
        ("pupil", "en", ["A.1:", "A.7:", "B.1:", "A.6:"], ["C:", "C [", "Staff do not"]),
        ("pupil", "nl", ["A.1:", "A.7:", "B.1:", "A.6:"], ["C:", "C [", "Medewerkers"]),
        # A staff device: the staff rule (off by default) and the group-chat rules only.
        ("staff", "en", ["C [Switched off at this school]:", "B.1:"], ["A.1", "A.7", "Pupils"]),
        ("staff", "nl", ["C [Staat uit op deze school]:", "A.6:"], ["A.1", "A.7", "Leerlingen en"]),
    ],
)
def test_explain_lists_only_the_rules_of_the_devices_audience(
    audience: str, lang: str, shown: list[str], hidden: list[str]
) -> None:
    rules = render(load_policy(), lang, [], NOW, AMS, [], None, (), audience)  # type: ignore[arg-type]
    rules = rules.split("\n\n", 3)[2]  # the rules' paragraph, before the apps
    assert all(any(line.lstrip().startswith(x) for line in rules.splitlines()) for x in shown)
    assert not any(x in rules for x in hidden), rules


def test_a_staff_device_lists_only_the_apps_of_its_rules() -> None:
    """With the staff rule switched on, a staff device lists social media, not recording apps."""
    policy = load_policy()
    rules = tuple(
        replace(r, enabled=True) if r.id == "c-staff-work-time" else r for r in policy.rules
    )
    text = render(replace(policy, rules=rules), "en", [], NOW, AMS, [], None, (), "staff")
    assert "social media: BeReal" in text and "Snipping Tool" not in text


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "en",
            [
                "Checking ran for 50 minutes of lesson l_1.",
                "The device looked 200 times.",
                "Could not be looked at on this device: use of the camera.",
                "- screen recording: Snipping Tool (article A.1). 61 seconds in all. Seen 2 "
                "times. First in minute 5 of the lesson.",
                "Checking was interrupted 1 time.",
                "Nothing was found.",
            ],
        ),
        (
            "nl",
            [
                "Er is 50 minuten gecontroleerd in les l_1.",
                "Het apparaat heeft 200 keer gekeken.",
                "Kon op dit apparaat niet bekeken worden: cameragebruik.",
                "- schermopname: Snipping Tool (artikel A.1). 61 seconden in totaal. 2 keer "
                "gezien. Voor het eerst in minuut 5 van de les.",
                "Het controleren is 1 keer onderbroken.",
                "Er is niets gevonden.",
            ],
        ),
    ],
)
def test_every_summary_of_the_last_lesson_in_words_and_verbatim(
    lang: str, words: list[str]
) -> None:
    """Both summaries, each in sentences (the catalog's category, as /privacy names it) and as
    the very JSON that was sent, one field a line, the buckets on one line."""
    text = render(load_policy(), lang, [], NOW, AMS, SENT, None, (), "pupil")  # type: ignore[arg-type]
    lines = [line.strip() for line in text.splitlines()]
    assert all(sentence in lines for sentence in words), text
    # Verbatim: the JSON printed after each heading is the JSON sent, field for field and in
    # the order sent; only the layout differs.
    blocks = verbatim_blocks(text)
    assert [json.loads(b) for b in blocks] == [json.loads(body) for body, _ in SENT]
    assert [list(json.loads(b)) for b in blocks] == [list(json.loads(b)) for b, _ in SENT]
    assert '"buckets": [0, 61, 0, 0, 0, 0, 0, 0, 0, 0]' in [
        x.strip() for x in blocks[0].splitlines()
    ]


def verbatim_blocks(text: str) -> list[str]:
    """The JSON printed after each "exactly as sent" heading."""
    out: list[str] = []
    lines = text.splitlines()
    headings = (
        "Exactly as sent (laid out for reading):",
        "Precies zoals verstuurd (overzichtelijk neergezet):",
    )
    for i, line in enumerate(lines):
        if line.strip() in headings:
            block = []
            for follow in lines[i + 1 :]:
                block.append(follow)
                if follow == "    }":
                    break
            out.append("\n".join(block))
    return out


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # The running agent's values, from its status file, over the policy's 15 / 60 / 120.
        ({"sample_seconds": 7, "grace_seconds": 11, "upload_delay_max_seconds": 5}, (7, 11, 5)),
        # run --grace-seconds 0 --upload-delay-max 0: zero is a value in force.
        ({"sample_seconds": 1, "grace_seconds": 0, "upload_delay_max_seconds": 0}, (1, 0, 0)),
        # A damaged status file: a zero sample, a text, a bool, an unknown key keep the policy's.
        (
            {"sample_seconds": 0, "grace_seconds": "9", "upload_delay_max_seconds": True},
            (15, 60, 120),
        ),
        ({"colour": 3, "grace_seconds": -1}, (15, 60, 120)),
        (None, (15, 60, 120)),
    ],
)
def test_explain_shows_the_values_the_agent_runs_with(
    settings: dict[str, Any] | None, expected: tuple[int, int, int]
) -> None:
    s = _policy_in_force(None, {"settings": settings}).settings
    assert (s.sample_seconds, s.grace_seconds, s.upload_delay_max_seconds) == expected
