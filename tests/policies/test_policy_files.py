"""Policy and override files: the merge order, and refusal of anything broken with file and line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from policies import (
    PolicyError,
    document_digest,
    effective_document,
    load_policy,
    merged_from_texts,
    policy_from_document,
)
from policies.build import build_policy
from policies.document import merge_shipped, shipped_texts


def refused(override: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        build_policy(merged_from_texts([("school.toml", override)]))
    return caught.value


# Each row: override text, the line the error must name, words the message must contain.
BROKEN_OVERRIDES = [
    ("# syntax\n[settings\ngrace_seconds = 1\n", 2, "not valid TOML"),
    ("[settings]\ngrace_seconds = 30\ngrace_seconds = 40\n", 3, "not valid TOML"),
    ("[settings]\ngrace_seconds = 30\nsample_secs = 10\n", 3, "unknown setting 'sample_secs'"),
    ('[settings]\n\ngrace_seconds = "1m"\n', 3, "must be a int"),
    ("[settings]\ngrace_seconds = true\n", 2, "must be a int"),
    ("[settings]\nsample_seconds = 0\n", 2, "between 1 and 3600"),
    ('[settings]\ndisclosure = "everything"\n', 2, "must be one of aggregate, pseudonymous"),
    ('[settings]\ndevice_allow_categories = ["games"]\n', 2, "unknown category 'games'"),
    ('[rules."a1-social-media"]\nenabled = "no"\n', 1, "true or false"),
    ('[rules."a1-social-media"]\ncategories = ["x"]\n', 1, "may only set 'enabled'"),
    ('[rules."no-such-rule"]\nenabled = false\n', 1, "no rule 'no-such-rule'"),
    (
        '\n[[rule]]\nid = "a1-social-media"\narticle = "A.1"\n',
        3,
        "duplicate rule id 'a1-social-media' (first defined at rules.toml:",
    ),
    (
        '[[rule]]\nid = "x-games"\narticle = "A.1"\napplies_to = ["lesson"]\n'
        'categories = ["games"]\npermission_lifts = true\n'
        'statement = { nl = "a", en = "b" }\n',
        5,
        "unknown category 'games'",
    ),
    (
        '[[rule]]\nid = "x-two"\narticle = "A.1"\napplies_to = ["break"]\n'
        'categories = ["social_media"]\npermission_lifts = true\n'
        'statement = { nl = "a", en = "b" }\n',
        4,
        "applies_to must list",
    ),
    (
        '[[rule]]\nid = "x-three"\narticle = "A.1"\napplies_to = ["lesson"]\n'
        'categories = ["social_media"]\npermission_lifts = true\n'
        'statement = { nl = "a" }\n',
        7,
        "needs a non-empty 'nl' and 'en'",
    ),
    (
        '[[rule]]\nid = "x-four"\narticle = "A.1"\napplies_to = ["lesson"]\n'
        'categories = ["social_media"]\npermission_lifts = true\n'
        'statement = { nl = "a", en = "b" }\nenabeld = false\n',
        8,
        "unknown field 'enabeld'",
    ),
    (
        '[family.roblox]\nname = "Roblox"\ncategory = "games"\nwindows.exe = ["Roblox.exe"]\n',
        3,
        "unknown category 'games'",
    ),
    (
        '[family.telegram]\nname = "T2"\ncategory = "social_media"\nwindows.exe = ["t2.exe"]\n',
        1,
        "family 'telegram' is already defined in catalog.toml",
    ),
    (
        '[family.fake]\nname = "Fake"\ncategory = "social_media"\n\n'
        'windows.exe = ["nice.exe", "TELEGRAM.EXE"]\n',
        5,
        "exe 'TELEGRAM.EXE' is claimed by both 'telegram' and 'fake'",
    ),
    (
        '[family.fake]\nname = "Fake"\ncategory = "social_media"\n'
        'linux.exe = ["telegram-desktop-fake"]\n',
        4,
        "claimed by both 'telegram' and 'fake'",  # same 15-character comm truncation
    ),
    (
        '[family.fake]\nname = "Fake"\ncategory = "social_media"\nlinux.domain = ["x.org"]\n',
        4,
        "domains belong under browser",
    ),
    (
        '[family.fake]\nname = "Fake"\ncategory = "social_media"\nlinux.pid = ["1"]\n',
        4,
        "unknown identifier kind 'linux.pid'",
    ),
    (
        '[family.fake]\nname = "Fake"\ncategory = "social_media"\n',
        1,
        "lists no identifiers",
    ),
    (
        '[family.fake]\nname = "Fake"\ncategory = "social_media"\nlinux.exe = [""]\n',
        4,
        "empty, over-long or non-printable",
    ),
    ('[extend.nosuch]\nlinux.exe = ["x"]\n', 1, "no app family 'nosuch' to extend"),
    ('[extend.obs]\nlinux.exe = "obs-studio"\n', 2, "must be a list"),
    ('[categories.social_media]\nlabel = { nl = "x", en = "y" }\n', 1, "already defined"),
    ('[capture]\nimage = ["png"]\n', None, "is not an extension like '.png'"),
    ('[capture]\naudio = [".png"]\n', None, "extension '.png' is both image and audio"),
    ("[camera]\nenabled = false\n", 1, "unknown section 'camera'"),
    ("version = 2\n", None, "version 2 is not supported"),
]


@pytest.mark.parametrize(("text", "line", "words"), BROKEN_OVERRIDES)
def test_broken_override_is_refused_with_file_line_and_problem(
    text: str, line: int | None, words: str
) -> None:
    """A broken override names the file, the line and the problem; nothing is built from it."""
    error = refused(text)
    assert error.source == "school.toml"
    assert error.line == line, str(error)
    assert words in error.problem, str(error)
    assert str(error).startswith(f"school.toml:{line}: " if line else "school.toml: ")


def test_merge_order_shipped_then_overrides_in_order() -> None:
    """Later overrides win for settings; additions from every file are kept."""
    first = (
        "[settings]\ngrace_seconds = 30\nsample_seconds = 10\n"
        '[rules."a1-video-streaming"]\nenabled = true\n'
        '[family.roblox]\nname = "Roblox"\ncategory = "social_media"\n'
        'windows.exe = ["RobloxPlayerBeta.exe"]\n'
        '[extend.obs]\nlinux.flatpak_id = ["com.example.obs"]\n'
        '[capture]\nimage = [".jxl"]\n'
    )
    second = '[settings]\ngrace_seconds = 45\n[rules."a1-video-streaming"]\nenabled = false\n'
    policy = build_policy(merged_from_texts([("board.toml", first), ("school.toml", second)]))
    assert policy.settings.grace_seconds == 45
    assert policy.settings.sample_seconds == 10
    assert not policy.rule("a1-video-streaming").enabled
    assert policy.families["roblox"].category == "social_media"
    assert "com.example.obs" in {i.value for i in policy.families["obs"].identifiers}
    assert policy.capture_extensions[".jxl"] == "image"
    assert policy.sources == (
        "rules.toml",
        "catalog.toml",
        "capture.toml",
        "board.toml",
        "school.toml",
    )


def test_override_leaves_the_merged_input_untouched() -> None:
    """Applying an override builds a new document; the shipped one is not changed by it."""
    base = merge_shipped(shipped_texts())
    before = json.dumps(base.doc, sort_keys=True)
    merged_from_texts([("school.toml", "[settings]\ngrace_seconds = 5\n")])
    assert json.dumps(merge_shipped(shipped_texts()).doc, sort_keys=True) == before


def test_override_file_on_disk(tmp_path: Path) -> None:
    """load_policy reads override files and names them in errors."""
    good = tmp_path / "school.toml"
    good.write_text("[settings]\nupload_delay_max_seconds = 30\n", encoding="utf-8")
    assert load_policy([good]).settings.upload_delay_max_seconds == 30
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[settings]\ngrace_seconds = \xff\n")
    with pytest.raises(PolicyError, match=r"bad\.toml:2: not UTF-8"):
        load_policy([bad])
    big = tmp_path / "big.toml"
    big.write_text("# x\n" * 300_000, encoding="utf-8")
    with pytest.raises(PolicyError, match="at most 1000000 allowed"):
        load_policy([big])
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy([tmp_path / "missing.toml"])


def test_effective_document_round_trips_over_the_wire() -> None:
    """The document the collector sends rebuilds the same policy on the agent."""
    doc = effective_document([("school.toml", "[settings]\ngrace_seconds = 20\n")])
    wire = json.loads(json.dumps(doc))
    policy = policy_from_document(wire)
    assert policy.settings.grace_seconds == 20
    from_toml = build_policy(
        merged_from_texts([("school.toml", "[settings]\ngrace_seconds = 20\n")])
    )
    assert replace(policy, sources=()) == replace(from_toml, sources=())
    assert document_digest(wire) == document_digest(doc)
    assert document_digest(effective_document()) != document_digest(doc)


HOSTILE_DOCUMENTS = [
    ([], "must be a JSON object"),
    ({}, "'version' is missing"),
    ({**effective_document(), "extra": 1}, "unknown key 'extra'"),
    ({**effective_document(), "version": True}, "'version' is missing or not a int"),
    ({**effective_document(), "rules": [{"id": 5}]}, "needs a string 'id'"),
    ({**effective_document(), "rules": [{"id": "a"}, {"id": "a"}]}, "duplicate rule id 'a'"),
    ({**effective_document(), "settings": {"grace_seconds": -1}}, "between 0 and 3600"),
    ({**effective_document(), "families": {"x": "y"}}, "must be a table"),
]


@pytest.mark.parametrize(("doc", "words"), HOSTILE_DOCUMENTS)
def test_hostile_policy_document_is_refused(doc: object, words: str) -> None:
    """A document from the wire or a cache file is checked as strictly as the TOML files."""
    with pytest.raises(PolicyError, match=words.replace("(", r"\(").replace(")", r"\)")):
        policy_from_document(doc, source="config cache")
