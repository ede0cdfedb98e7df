"""The group-chat check: one table row per rule (B.1, A.6), the re-check, and its invariants."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import Policy
from policies.build import build_policy
from policies.groupchat import (
    ALTERNATIVES,
    CODES,
    PURPOSES,
    Chat,
    ChatFinding,
    PlatformCatalog,
    School,
    active_findings,
    check_chat,
    load_platforms,
)
from policies.load import merged_from_texts

CATALOG = load_platforms()
CLASS_PURPOSES = tuple(p for p in PURPOSES if p != "other")

# A chat that breaks nothing: Parro, school account, everyone in it, consent, class matters.
CLEAN = Chat(
    group="3B",
    platform="parro",
    account="school",
    purposes=frozenset({"homework", "cancelled_lessons"}),
    pupils_in_class=30,
    pupils_in_chat=30,
    youngest_age=14,
    parental_consent=True,
    alternative="none",
)
NONE = School()


def chat(**changes: Any) -> Chat:
    if "purposes" in changes:
        changes["purposes"] = frozenset(changes["purposes"])
    return replace(CLEAN, **changes)


def codes(found: list[ChatFinding]) -> list[str]:
    return [f.code for f in found]


CASES = [
    # --- WhatsApp: never, whatever else is right ----------------------------------------------
    (chat(platform="whatsapp"), NONE, ["whatsapp"]),
    (chat(platform="whatsapp", youngest_age=17), NONE, ["whatsapp"]),
    (chat(platform="whatsapp"), School("parro"), ["whatsapp", "closed_platform_available"]),
    (
        chat(platform="whatsapp", youngest_age=12, parental_consent=False),
        NONE,
        ["whatsapp", "below_minimum_age", "no_parental_consent"],
    ),
    # --- The school has a closed platform: social media and other apps are out -----------------
    (chat(platform="telegram", youngest_age=16), NONE, []),
    (chat(platform="telegram", youngest_age=16), School("parro"), ["closed_platform_available"]),
    (chat(platform="instagram"), School("somtoday"), ["closed_platform_available"]),
    (chat(platform="tiktok"), School("microsoft_teams_education"), ["closed_platform_available"]),
    (chat(platform="signal"), School("magister"), ["closed_platform_available"]),
    (
        chat(platform="microsoft_teams_personal"),
        School("microsoft_teams_education"),
        ["closed_platform_available"],
    ),
    # another closed platform than the school's: at risk, not broken
    (chat(platform="magister"), School("somtoday"), ["not_school_platform"]),
    (chat(platform="parro"), NONE, []),
    (chat(platform="parro"), School("parro"), []),
    (chat(platform="google_classroom"), School("google_classroom"), []),
    # --- Minimum age of the platform ----------------------------------------------------------
    (chat(platform="telegram", youngest_age=15), NONE, ["below_minimum_age"]),
    (chat(platform="telegram", youngest_age=16), NONE, []),
    (chat(platform="discord", youngest_age=15), NONE, ["below_minimum_age"]),
    (chat(platform="tiktok", youngest_age=12), NONE, ["below_minimum_age"]),
    (chat(platform="tiktok", youngest_age=13), NONE, []),
    (chat(platform="snapchat", youngest_age=4), NONE, ["below_minimum_age"]),
    # no minimum age known or set: nothing to compare with
    (chat(platform="microsoft_teams_personal", youngest_age=6), NONE, []),
    (chat(platform="klasbord", youngest_age=4), NONE, []),
    # --- Parental consent under 16 where the platform relies on consent -----------------------
    (
        chat(platform="signal", youngest_age=13, parental_consent=False),
        NONE,
        ["no_parental_consent"],
    ),
    (
        chat(platform="signal", youngest_age=15, parental_consent=False),
        NONE,
        ["no_parental_consent"],
    ),
    (chat(platform="signal", youngest_age=16, parental_consent=False), NONE, []),
    (chat(platform="signal", youngest_age=13, parental_consent=True), NONE, []),
    (
        chat(platform="microsoft_teams_personal", youngest_age=10, parental_consent=False),
        NONE,
        ["no_parental_consent"],
    ),
    # a school platform rests on the school's task, not on consent
    (chat(platform="microsoft_teams_education", youngest_age=10, parental_consent=False), NONE, []),
    (chat(platform="parro", youngest_age=5, parental_consent=False), School("parro"), []),
    # --- Pupils not in the chat need another channel ------------------------------------------
    (chat(pupils_in_chat=28), NONE, ["non_members_not_informed"]),
    (chat(pupils_in_chat=0), NONE, ["non_members_not_informed"]),
    (chat(pupils_in_chat=28, alternative="mail"), NONE, []),
    (chat(pupils_in_chat=28, alternative="post"), NONE, []),
    (chat(pupils_in_chat=28, alternative="school_platform"), NONE, []),
    (chat(pupils_in_chat=28, alternative="other"), NONE, []),
    (chat(pupils_in_chat=30, alternative="none"), NONE, []),
    # --- A.6: never from a private account ----------------------------------------------------
    (chat(account="private"), NONE, ["private_account"]),
    (chat(account="private"), School("parro"), ["private_account"]),
    (chat(platform="whatsapp", account="private"), NONE, ["whatsapp", "private_account"]),
    # --- Purposes: only class matters ---------------------------------------------------------
    (chat(purposes=["other"]), NONE, ["purpose_outside_class_matters"]),
    (chat(purposes=["homework", "other"]), NONE, ["purpose_outside_class_matters"]),
    (chat(purposes=CLASS_PURPOSES), NONE, []),
    # --- A platform no longer in the catalog: say so, check the rest --------------------------
    (chat(platform="myspace"), NONE, ["platform_not_in_catalog"]),
    (
        chat(platform="myspace", account="private", pupils_in_chat=20),
        School("parro"),
        ["non_members_not_informed", "private_account", "platform_not_in_catalog"],
    ),
    # --- Everything at once, violations before warnings ---------------------------------------
    (
        chat(
            platform="whatsapp",
            account="private",
            purposes=["trips", "other"],
            pupils_in_chat=25,
            youngest_age=11,
            parental_consent=False,
        ),
        School("social_schools"),
        [
            "whatsapp",
            "closed_platform_available",
            "below_minimum_age",
            "no_parental_consent",
            "non_members_not_informed",
            "private_account",
            "purpose_outside_class_matters",
        ],
    ),
]


@pytest.mark.parametrize(("facts", "school", "expected"), CASES)
def test_check_chat(facts: Chat, school: School, expected: list[str]) -> None:
    """Each rule gives its code, with the rule, article and severity the code stands for."""
    found = check_chat(facts, school, CATALOG)
    assert codes(found) == expected
    for finding in found:
        (rule, article), severity = CODES[finding.code]
        assert (finding.rule, finding.article, finding.severity) == (rule, article, severity)


def test_codes_name_rules_of_the_shipped_policy(shipped: Policy) -> None:
    """Every code's rule id exists in rules.toml, with the same article, for group chats."""
    for (rule_id, article), _ in CODES.values():
        rule = shipped.rule(rule_id)
        assert rule.article == article
        assert rule.applies_to == frozenset({"group_chat"})
    assert {rule for (rule, _), _ in CODES.values()} == {"b1-group-chat", "a6-private-account"}


EXPLAINED = [
    (chat(platform="whatsapp"), School("parro"), "whatsapp", ["3B", "WhatsApp", "Parro", "B.1"]),
    (chat(platform="whatsapp"), NONE, "whatsapp", ["3B", "WhatsApp", "B.1"]),
    (
        chat(platform="instagram"),
        School("somtoday"),
        "closed_platform_available",
        ["3B", "Instagram", "SOMtoday", "B.1"],
    ),
    (
        chat(platform="magister"),
        School("somtoday"),
        "not_school_platform",
        ["Magister", "SOMtoday"],
    ),
    (
        chat(platform="telegram", youngest_age=15),
        NONE,
        "below_minimum_age",
        ["15", "16", "Telegram"],
    ),
    (
        chat(platform="signal", youngest_age=12, parental_consent=False),
        NONE,
        "no_parental_consent",
        ["12", "16", "Signal", "UAVG"],
    ),
    (chat(pupils_in_chat=26), NONE, "non_members_not_informed", ["4", "30", "3B", "B.1"]),
    (
        chat(platform="discord", youngest_age=16, account="private"),
        NONE,
        "private_account",
        ["Discord", "A.6"],
    ),
    (chat(purposes=["other"]), NONE, "purpose_outside_class_matters", ["3B", "B.1"]),
    (chat(platform="myspace"), NONE, "platform_not_in_catalog", ["myspace", "3B"]),
]


@pytest.mark.parametrize(("facts", "school", "code", "named"), EXPLAINED)
def test_explanations_name_the_facts(
    facts: Chat, school: School, code: str, named: list[str]
) -> None:
    """The Dutch and the English explanation both name the chat's concrete facts and article."""
    finding = next(f for f in check_chat(facts, school, CATALOG) if f.code == code)
    for lang in ("nl", "en"):
        text = finding.explanation(lang)
        for fact in named:
            assert fact in text, (lang, fact, text)


def test_explanation_says_how_sure_the_age_is() -> None:
    """An age from a secondary source says so; a verified one does not hedge."""
    secondary = check_chat(chat(platform="tiktok", youngest_age=12), NONE, CATALOG)[0]
    verified = check_chat(chat(platform="telegram", youngest_age=12), NONE, CATALOG)[0]
    assert "secondary source" in secondary.explanation.en
    assert "secundaire bron" in secondary.explanation.nl
    assert "secondary" not in verified.explanation.en
    assert "not confirmed" not in verified.explanation.en


def test_every_code_is_reachable() -> None:
    """The table above exercises every code the check can give."""
    seen = {code for facts, school, expected in CASES for code in expected}
    assert seen == set(CODES)


# --- The re-check when the school's setting changes ---------------------------------------------


def test_adopting_a_closed_platform_flags_chats_on_social_media() -> None:
    """The same chats, checked again after the school adopts Parro, now break B.1."""
    chats = [
        chat(platform="telegram", youngest_age=16, group="4A"),
        chat(platform="instagram", group="2C"),
        chat(platform="parro", group="1D"),
    ]
    before = [codes(check_chat(c, School(), CATALOG)) for c in chats]
    after = [codes(check_chat(c, School("parro"), CATALOG)) for c in chats]
    assert before == [[], [], []]
    assert after == [["closed_platform_available"], ["closed_platform_available"], []]


def test_switching_closed_platform_moves_the_finding() -> None:
    """A school that moves from Parro to Social Schools sees its Parro chats as at risk."""
    on_parro = chat(platform="parro")
    assert check_chat(on_parro, School("parro"), CATALOG) == []
    assert codes(check_chat(on_parro, School("social_schools"), CATALOG)) == ["not_school_platform"]


def test_a_changed_catalog_changes_the_outcome() -> None:
    """A platform whose minimum age goes up in the catalog gets the chat flagged on re-check."""
    telegram = CATALOG.platforms["telegram"]
    stricter = PlatformCatalog(
        platforms={**CATALOG.platforms, "telegram": replace(telegram, minimum_age=18)},
        source="test",
        digest="other",
    )
    facts = chat(platform="telegram", youngest_age=17)
    assert check_chat(facts, NONE, CATALOG) == []
    assert codes(check_chat(facts, NONE, stricter)) == ["below_minimum_age"]


def test_active_findings_respects_a_switched_off_rule(shipped: Policy) -> None:
    """A school that switched A.6 off in its override no longer sees private-account findings."""
    override = build_policy(
        merged_from_texts([("school.toml", "[rules.a6-private-account]\nenabled = false\n")])
    )
    found = check_chat(chat(platform="whatsapp", account="private"), NONE, CATALOG)
    assert codes(active_findings(found, shipped)) == ["whatsapp", "private_account"]
    assert codes(active_findings(found, override)) == ["whatsapp"]


# --- Properties ---------------------------------------------------------------------------------


@st.composite
def chats(draw: st.DrawFn, platforms: st.SearchStrategy[str] | None = None) -> Chat:
    in_class = draw(st.integers(1, 500))
    return Chat(
        group=draw(
            st.text(min_size=1, max_size=40).filter(lambda g: g.isprintable() and g.strip())
        ),
        platform=draw(
            st.sampled_from(sorted(CATALOG.platforms)) if platforms is None else platforms
        ),
        account=draw(st.sampled_from(("school", "private"))),
        purposes=frozenset(draw(st.sets(st.sampled_from(PURPOSES), min_size=1))),
        pupils_in_class=in_class,
        pupils_in_chat=draw(st.integers(0, in_class)),
        youngest_age=draw(st.integers(4, 30)),
        parental_consent=draw(st.booleans()),
        alternative=draw(st.sampled_from(ALTERNATIVES)),
    )


schools = st.one_of(st.just(School()), st.sampled_from([School(p.id) for p in CATALOG.closed()]))


@given(chats(), schools)
def test_check_never_raises_and_is_well_formed(facts: Chat, school: School) -> None:
    """Any valid chat gives well-formed findings: known codes, each once, violations first."""
    found = check_chat(facts, school, CATALOG)
    assert len(set(codes(found))) == len(found)
    assert set(codes(found)) <= set(CODES)
    severities = [f.severity for f in found]
    assert severities == sorted(severities, key=lambda s: s != "violation")
    for finding in found:
        assert finding.explanation.nl.strip() and finding.explanation.en.strip()
        assert facts.group in finding.explanation.nl and facts.group in finding.explanation.en


@given(st.sampled_from(CATALOG.closed()), st.data())
def test_the_school_platform_used_well_is_always_clean(platform: Any, data: st.DataObject) -> None:
    """On the school's own closed platform, from a school account, with everyone in, consent and
    only class matters, a chat has no findings, for every platform marked closed."""
    facts = Chat(
        group=data.draw(st.sampled_from(["1A", "3 havo-b", "groep 8"])),
        platform=platform.id,
        account="school",
        purposes=frozenset(data.draw(st.sets(st.sampled_from(CLASS_PURPOSES), min_size=1))),
        pupils_in_class=(n := data.draw(st.integers(1, 500))),
        pupils_in_chat=n,
        youngest_age=data.draw(st.integers(platform.minimum_age or 4, 30)),
        parental_consent=True,
        alternative=data.draw(st.sampled_from(ALTERNATIVES)),
    )
    assert check_chat(facts, School(platform.id), CATALOG) == []


@given(chats(), schools)
def test_a_private_account_adds_exactly_a6(facts: Chat, school: School) -> None:
    """Switching a chat to a private account adds the A.6 finding and changes nothing else."""
    as_school = codes(check_chat(replace(facts, account="school"), school, CATALOG))
    as_private = codes(check_chat(replace(facts, account="private"), school, CATALOG))
    assert sorted(as_private) == sorted([*as_school, "private_account"])


@given(chats(), schools)
def test_dropping_the_closed_platform_never_adds_findings(facts: Chat, school: School) -> None:
    """A school without a closed platform never sees more findings than one with it."""
    with_platform = set(codes(check_chat(facts, school, CATALOG)))
    without = set(codes(check_chat(facts, School(), CATALOG)))
    assert without <= with_platform
    assert with_platform - without <= {"closed_platform_available", "not_school_platform"}


@given(chats(platforms=st.sampled_from([p.id for p in CATALOG if not p.closed])))
def test_a_closed_platform_flags_every_other_app(facts: Chat) -> None:
    """Every platform that is not a closed school platform breaks B.1 once the school has one."""
    found = codes(check_chat(facts, School("parro"), CATALOG))
    assert "closed_platform_available" in found
