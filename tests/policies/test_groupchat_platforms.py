"""The platform catalog: the shipped facts, and a clear error with file and line for a bad file."""

from __future__ import annotations

from datetime import date

import pytest

from policies import PolicyError
from policies.groupchat import load_platforms, parse_platforms

CATALOG = load_platforms()

# What ../shared/reference/dutch-context.md §7-§8 says, as the spec for the shipped file:
# (id, kind, closed, minimum age, consent under 16, confidence)
REFERENCE = [
    ("whatsapp", "messaging", False, 13, True, "verified"),
    ("telegram", "messaging", False, 16, True, "verified"),
    ("signal", "messaging", False, 13, True, "secondary"),
    ("discord", "messaging", False, 16, True, "secondary"),
    ("messenger", "messaging", False, 13, True, "secondary"),
    ("microsoft_teams_personal", "messaging", False, None, True, "guess"),
    ("snapchat", "social_media", False, 13, True, "secondary"),
    ("instagram", "social_media", False, 13, True, "secondary"),
    ("facebook", "social_media", False, 13, True, "secondary"),
    ("tiktok", "social_media", False, 13, True, "secondary"),
    ("microsoft_teams_education", "school_platform", True, None, False, "verified"),
    ("google_classroom", "school_platform", True, None, False, "verified"),
    ("parro", "school_platform", True, None, False, "verified"),
    ("social_schools", "school_platform", True, None, False, "verified"),
    ("somtoday", "school_platform", True, None, False, "secondary"),
    ("magister", "school_platform", True, None, False, "guess"),
    ("itslearning", "school_platform", True, None, False, "guess"),
    ("klasbord", "school_platform", True, None, False, "guess"),
]


@pytest.mark.parametrize(("pid", "kind", "closed", "age", "consent", "confidence"), REFERENCE)
def test_shipped_platform_matches_the_reference(
    pid: str, kind: str, closed: bool, age: int | None, consent: bool, confidence: str
) -> None:
    """Each shipped platform carries the kind, age, consent and confidence the sources support."""
    platform = CATALOG.platforms[pid]
    assert (platform.kind, platform.closed, platform.minimum_age) == (kind, closed, age)
    assert (platform.consent_under_16, platform.confidence) == (consent, confidence)
    assert platform.note.nl and platform.note.en
    assert platform.checked >= date(2024, 4, 11)  # after WhatsApp's last change of age


def test_the_catalog_is_exactly_the_reference_table() -> None:
    """No platform is shipped without a row in the table above."""
    assert set(CATALOG.platforms) == {row[0] for row in REFERENCE}


def test_only_guesses_go_without_a_source() -> None:
    """Verified and secondary entries cite a URL; only a guess may lack one."""
    for platform in CATALOG:
        if platform.confidence != "guess":
            assert platform.source and platform.source.startswith("https://")


def test_load_gives_the_same_catalog_each_time() -> None:
    """The digest identifies the file's content, so the collector can tell when it changed."""
    again = load_platforms()
    assert again == CATALOG
    assert len(CATALOG.digest) == 64


VALID = """\
version = 1

[platform.whatsapp]
name = "WhatsApp"
kind = "messaging"
closed_school_platform = false
minimum_age = 13
parental_consent_under_16 = true
confidence = "verified"
source = "https://example.org/whatsapp"
checked = 2026-11-24
note = { nl = "Nooit voor klassen.", en = "Never for classes." }

[platform.parro]
name = "Parro"
kind = "school_platform"
closed_school_platform = true
parental_consent_under_16 = false
confidence = "guess"
checked = 2026-11-24
note.nl = "Gesloten."
note.en = "Closed."
"""


def test_a_minimal_file_parses() -> None:
    """The smallest sensible catalog parses into typed platforms."""
    catalog = parse_platforms(VALID, "test.toml")
    assert [p.id for p in catalog.closed()] == ["parro"]
    assert catalog.platforms["parro"].minimum_age is None
    assert catalog.platforms["whatsapp"].checked == date(2026, 11, 24)


def line_of(text: str, marker: str) -> int:
    """The last line holding ``marker``: for a duplicate, the error names the second one."""
    return [i for i, line in enumerate(text.splitlines(), 1) if marker in line][-1]


BROKEN = [
    # (what is changed in VALID, part of the message, a text on the line the error names)
    (("minimum_age = 13", "minimum_age = 13\nmin_age = 13"), "unknown field 'min_age'", "min_age"),
    (
        ("[platform.parro]", "[platform.whatsapp]"),
        "duplicate platform 'whatsapp'",
        "[platform.whatsapp]",
    ),
    (("minimum_age = 13", "minimum_age = 0"), "minimum_age must be a whole number", "minimum_age"),
    (
        ("minimum_age = 13", "minimum_age = -13"),
        "minimum_age must be a whole number",
        "minimum_age",
    ),
    (
        ("minimum_age = 13", "minimum_age = 130"),
        "minimum_age must be a whole number",
        "minimum_age",
    ),
    (
        ("minimum_age = 13", "minimum_age = 13.5"),
        "minimum_age must be a whole number",
        "minimum_age",
    ),
    (
        ("minimum_age = 13", 'minimum_age = "13"'),
        "minimum_age must be a whole number",
        "minimum_age",
    ),
    (
        ("minimum_age = 13", "minimum_age = true"),
        "minimum_age must be a whole number",
        "minimum_age",
    ),
    (('kind = "messaging"', 'kind = "chat"'), "kind 'chat' is not one of", 'kind = "chat"'),
    (
        (
            'kind = "messaging"\nclosed_school_platform = false',
            'kind = "messaging"\nclosed_school_platform = true',
        ),
        "only a school_platform can be a closed",
        'kind = "messaging"',
    ),
    (
        ("closed_school_platform = false", 'closed_school_platform = "no"'),
        "must be true or false",
        'closed_school_platform = "no"',
    ),
    (
        ('source = "https://example.org/whatsapp"\n', ""),
        "a verified entry needs its source URL",
        'confidence = "verified"',
    ),
    (
        ('"https://example.org/whatsapp"', '"ftp://example.org/x"'),
        "source must be an http(s) URL",
        "ftp://",
    ),
    (
        ('"https://example.org/whatsapp"', '"https://exa mple.org"'),
        "source must be an http(s) URL",
        "exa mple",
    ),
    (
        ('confidence = "verified"', 'confidence = "sure"'),
        "confidence must be one of",
        'confidence = "sure"',
    ),
    (
        ("checked = 2026-11-24\nnote = {", "checked = 2026-11-24T10:00:00\nnote = {"),
        "checked must be a date",
        "T10:00",
    ),
    (
        ("checked = 2026-11-24\nnote = {", 'checked = "yesterday"\nnote = {'),
        "checked must be a date",
        "yesterday",
    ),
    (
        ("checked = 2026-11-24\nnote = {", "checked = 1999-01-01\nnote = {"),
        "checked must be a date",
        "1999",
    ),
    (
        ('en = "Never for classes." }', 'fr = "Jamais." }'),
        "note needs a non-empty 'nl' and 'en'",
        "Jamais",
    ),
    (('note.en = "Closed."', 'note.en = "  "'), "note needs a non-empty 'nl' and 'en'", "note.nl"),
    (('name = "Parro"', 'name = "whatsapp"'), "same name as 'whatsapp'", 'name = "whatsapp"'),
    (('name = "Parro"', 'name = ""'), "name must be a text", 'name = ""'),
    (('name = "Parro"\n', ""), "'name' is missing", "[platform.parro]"),
    (("[platform.parro]", "[platform.Parro]"), "lower_snake_case", "[platform.Parro]"),
    (("version = 1", "version = 1\n[extra]\nx = 1"), "unknown section 'extra'", "[extra]"),
    (("[platform.whatsapp]", "[platform.whatsapp_web]"), "'whatsapp' is missing", None),
    (("version = 1", "version = 2"), "version 2 is not supported", None),
    (('kind = "messaging"', 'kind = "messaging'), "not valid TOML", 'kind = "messaging'),
]


@pytest.mark.parametrize(("change", "message", "marker"), BROKEN)
def test_broken_file_is_refused_with_file_and_line(
    change: tuple[str, str], message: str, marker: str | None
) -> None:
    """A wrong field, a duplicate platform or a bad age names the file, the line and the problem."""
    old, new = change
    assert old in VALID
    text = VALID.replace(old, new, 1)
    with pytest.raises(PolicyError) as caught:
        parse_platforms(text, "school-platforms.toml")
    error = caught.value
    assert message in error.problem
    assert error.source == "school-platforms.toml"
    if marker is not None:
        assert error.line == line_of(text, marker), str(error)
        assert str(error).startswith(f"school-platforms.toml:{error.line}: ")


@pytest.mark.parametrize("text", ["", "version = 1\n", "platform = 3\n", "platform = {}\n"])
def test_a_file_without_platforms_is_refused(text: str) -> None:
    """An empty catalog is an error, not a catalog that allows everything."""
    with pytest.raises(PolicyError, match="no \\[platform"):
        parse_platforms(text, "x.toml")


def test_a_platform_that_is_not_a_table_is_refused() -> None:
    """``platform.x = 3`` is refused with the platform's name."""
    with pytest.raises(PolicyError, match="platform 'x': must be a table"):
        parse_platforms(VALID + "\n[platform]\nx = 3\n", "x.toml")
