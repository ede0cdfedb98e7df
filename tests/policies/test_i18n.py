"""The gettext catalogs of policies and the agent's explain: fresh, complete, used, and Dutch."""

from __future__ import annotations

import ast
import dataclasses
import io
import re
import string
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from agent.config import Lesson
from agent.explain import Enrolment, enrolment_text, helper_text, render
from policies import Policy
from policies.cli import check_summary, refusal
from policies.describe import describe, differences
from policies.explain import explain_data, render_text, timing_text
from policies.groupchat import (
    Chat,
    ChatInputError,
    PlatformCatalog,
    School,
    check_chat,
    load_platforms,
    validate_chat,
    validate_school,
)
from policies.i18n import DOMAIN, LOCALE_DIR, translator
from policies.model import Lang
from tests.agent.helpers import SNIPPING, sent_summary
from tests.policies.describe_cases import changed

ROOT = Path(__file__).resolve().parents[2]
POS = sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
# Where the translatable calls are: the same paths docs/policy.md gives to `pybabel extract`.
SOURCES = (ROOT / "policies", ROOT / "agent" / "explain.py")


def load(po: Path) -> Catalog:
    with po.open("rb") as f:
        return read_po(f)


def messages(catalog: Catalog) -> dict[Any, Any]:
    """msgid -> msgstr of every real entry (the header has the empty msgid); plurals as tuples,
    since read_po and read_mo give them as tuples and lists."""

    def frozen(value: Any) -> Any:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(m.id): frozen(m.string) for m in catalog if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def as_pattern(text: str) -> re.Pattern[str]:
    """``text`` with each ``{placeholder}`` standing for any value."""
    parts = [re.escape(literal) for literal, *_ in string.Formatter().parse(text)]
    return re.compile(".*?".join(parts))


def extracted() -> dict[str, str | None]:
    """Every msgid the sources pass to gettext, ngettext or N_, with its plural if any."""
    # extract_from_dir gives (file, line, message, comments, context); a single file no file.
    found: list[tuple[Any, ...]] = list(extract_from_dir(str(SOURCES[0])))
    found += [(SOURCES[1], *m) for m in extract_from_file("python", str(SOURCES[1]))]
    out: dict[str, str | None] = {}
    for _, _, message, *_ in found:
        if isinstance(message, tuple):
            out[message[0]] = message[1]
        else:
            out[message] = None
    return out


def test_there_is_a_dutch_catalog() -> None:
    """The Dutch catalog exists where translator() looks, and translator("nl") loads it."""
    assert [po.parts[-3] for po in POS] == ["nl"]
    assert translator("nl").gettext("How often") == "Hoe vaak"


# --- (1) fresh and complete -----------------------------------------------------------------


@pytest.mark.parametrize("po", POS, ids=lambda p: p.parts[-3])
def test_the_committed_mo_is_the_compiled_po(po: Path) -> None:
    """Compiling the .po with Babel gives exactly the messages of the committed .mo."""
    compiled = io.BytesIO()
    write_mo(compiled, load(po))
    compiled.seek(0)
    with po.with_suffix(".mo").open("rb") as committed:
        from_mo = read_mo(committed)
    fresh = read_mo(compiled)
    assert messages(from_mo) == messages(fresh)
    assert from_mo.plural_forms == fresh.plural_forms == load(po).plural_forms


@pytest.mark.parametrize("po", POS, ids=lambda p: p.parts[-3])
def test_every_message_is_translated_with_the_same_placeholders(po: Path) -> None:
    """No empty msgstr, no fuzzy entry, every plural form filled in, and each form uses the
    placeholders of its English form (a new one would raise KeyError when formatted)."""
    catalog = load(po)
    assert not catalog.fuzzy
    entries: list[Message] = [m for m in catalog if m.id]
    assert entries
    for m in entries:
        assert not m.fuzzy, m.id
        if isinstance(m.id, tuple):
            assert isinstance(m.string, tuple) and len(m.string) == catalog.num_plurals, m.id
            english = [m.id[0], *[m.id[1]] * (catalog.num_plurals - 1)]
            for form, source in zip(m.string, english, strict=True):
                assert form.strip(), m.id
                assert placeholders(form) == placeholders(source), (form, source)
        else:
            assert isinstance(m.id, str) and isinstance(m.string, str) and m.string.strip(), m.id
            assert placeholders(m.string) == placeholders(m.id), (m.string, m.id)


# --- (2) the catalog and the source agree ---------------------------------------------------


def test_every_msgid_in_the_source_is_in_the_catalog() -> None:
    """Each gettext, ngettext and N_ call in policies/ and agent/explain.py has its entry, with
    the same plural, in every catalog; and no catalog keeps a msgid the source no longer uses."""
    source = extracted()
    # The extractor really read the files: a plain, a plural and an N_-marked msgid.
    assert source["What lessonwatch checks"] is None
    assert source["{group} has {n} pupil."] == "{group} has {n} pupils."
    assert "a messaging app" in source
    for po in POS:
        catalog = load(po)
        in_catalog = {
            (m.id[0] if isinstance(m.id, tuple) else m.id): (
                m.id[1] if isinstance(m.id, tuple) else None
            )
            for m in catalog
            if m.id
        }
        missing = sorted(k for k in source if k not in in_catalog)
        other_plural = sorted(k for k in source if k in in_catalog and in_catalog[k] != source[k])
        unused = sorted(set(in_catalog) - set(source))
        assert (missing, other_plural, unused) == ([], [], []), po


def test_no_text_is_written_inline_in_both_languages() -> None:
    """No Text(nl=..., en=...) built from literals and no _T dictionaries are left: policy data
    (TOML) carries its own labels, everything else goes through gettext."""
    offenders = []
    for path in [*SOURCES[0].rglob("*.py"), SOURCES[1]]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Text":
                values = [*node.args, *(k.value for k in node.keywords)]
                if any(isinstance(v, ast.Constant | ast.JoinedStr) for v in values):
                    offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id == "_T":
                offenders.append(f"{path.name}:{node.lineno} _T")
    assert offenders == []


# --- (3) counts, and Dutch output without English -------------------------------------------

COUNTS = [
    # (lang, sample, grace, upload, what the text says)
    ("nl", 1, 1, 1, ["Elke seconde tijdens", "Korter dan 1 seconde telt", "binnen 1 seconde na"]),
    ("nl", 2, 2, 2, ["Elke 2 seconden", "Korter dan 2 seconden", "binnen 2 seconden na"]),
    ("nl", 15, 0, 120, ["Elke 15 seconden", "Korter dan 0 seconden", "binnen 120 seconden"]),
    ("en", 1, 1, 1, ["Every second during", "Less than 1 second does", "within 1 second after"]),
    ("en", 2, 2, 2, ["Every 2 seconds", "Less than 2 seconds", "within 2 seconds after"]),
    ("en", 15, 0, 120, ["Every 15 seconds", "Less than 0 seconds", "within 120 seconds"]),
]


@pytest.mark.parametrize(("lang", "sample", "grace", "upload", "says"), COUNTS)
def test_timing_says_seconds_in_the_right_number(
    lang: Lang, sample: int, grace: int, upload: int, says: list[str]
) -> None:
    """One second is "1 seconde", two are "2 seconden", and never "1 seconden"."""
    text = timing_text(sample, grace, upload, lang)
    for part in says:
        assert part in text, text
    assert not re.search(r"\b1 second(en|s)\b", text)


def chat(**changes: Any) -> Chat:
    facts: dict[str, Any] = {
        "group": "3B",
        "platform": "parro",
        "account": "school",
        "purposes": frozenset({"homework"}),
        "pupils_in_class": 30,
        "pupils_in_chat": 30,
        "youngest_age": 14,
        "parental_consent": True,
        "alternative": "none",
    }
    return Chat(**{**facts, **changes})


PUPILS = [
    # (in class, in chat, Dutch, English)
    (1, 0, ["3B heeft 1 leerling.", "Daarvan zit er 1 niet"], ["3B has 1 pupil.", "1 of them is"]),
    (
        30,
        29,
        ["3B heeft 30 leerlingen.", "Daarvan zit er 1 niet in", "hoe die leerling"],
        ["3B has 30 pupils.", "1 of them is not"],
    ),
    (
        30,
        28,
        ["3B heeft 30 leerlingen.", "Daarvan zitten er 2 niet in", "hoe zij"],
        ["3B has 30 pupils.", "2 of them are not"],
    ),
]


@pytest.mark.parametrize(("in_class", "in_chat", "nl", "en"), PUPILS)
def test_pupils_left_out_are_counted_in_the_right_number(
    in_class: int, in_chat: int, nl: list[str], en: list[str]
) -> None:
    """ "1 leerling", "30 leerlingen", "er zit er 1", "er zitten er 2": ngettext per count."""
    facts = chat(pupils_in_class=in_class, pupils_in_chat=in_chat)
    (finding,) = check_chat(facts, School(), load_platforms())
    assert finding.code == "non_members_not_informed"
    for part in nl:
        assert part in finding.explanation.nl
    for part in en:
        assert part in finding.explanation.en
    assert "1 leerlingen" not in finding.explanation.nl and "1 pupils" not in finding.explanation.en


def _catalog_reaching_every_message() -> PlatformCatalog:
    """The shipped platforms, plus two that reach the rare texts: an age that is only a guess
    and a school platform that is not closed."""
    shipped = load_platforms()
    teams = shipped.platforms["microsoft_teams_personal"]
    extra = {
        "guessed": replace(teams, id="guessed", name="Guessed", minimum_age=13),
        "open_school": replace(teams, id="open_school", name="OpenSchool", kind="school_platform"),
    }
    return PlatformCatalog({**shipped.platforms, **extra}, source="test", digest="test")


def _errors(call: Any, *args: Any) -> ChatInputError:
    with pytest.raises(ChatInputError) as caught:
        call(*args)
    return caught.value


# Two summaries of one lesson that between them reach every sentence of a summary in words: a
# finding, a gap, a probe of each state, dropped summaries, and one with nothing found.
_PROBES = {"processes": "unavailable", "capture_files": "off", "camera": "unavailable"}
SENT = [
    (sent_summary(1, [SNIPPING], dropped=2, gaps=1, probes=_PROBES), "2026-11-24 10:31"),
    (
        sent_summary(2, [], probes={"microphone": "unavailable", "window_title": "off"}),
        "2026-11-24 10:32",
    ),
]


def _texts(value: Any, skip: set[str]) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() if k not in skip for t in _texts(v, skip)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v, skip)]
    return []


def dutch_samples(policy: Policy) -> dict[str, str]:
    """Every text policies and the agent's explain write, in Dutch, by where it comes from."""
    platforms = _catalog_reaching_every_message()
    titles_on = replace(policy, settings=replace(policy.settings, window_title_probe=True))
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    lessons = [
        Lesson("now", now - timedelta(minutes=10), now + timedelta(minutes=40)),
        Lesson("next", now + timedelta(hours=1), now + timedelta(hours=2)),
    ]
    tz = ZoneInfo("Europe/Amsterdam")
    everything = chat(
        platform="whatsapp",
        account="private",
        purposes={"other"},
        pupils_in_chat=28,
        youngest_age=12,
        parental_consent=False,
    )
    chats = [
        (everything, School("parro")),
        (chat(platform="whatsapp"), School()),
        (chat(platform="magister"), School("somtoday")),
        (chat(platform="guessed", youngest_age=12), School()),
        (chat(platform="tiktok", youngest_age=12), School()),
        (chat(platform="open_school"), School("parro")),
        (chat(platform="myspace"), School()),
    ]
    # Every field wrong in its own way, plus one field the register does not know.
    bad = {
        "group": "",
        "platform": "x",
        "account": "x",
        "purposes": [],
        "pupils_in_class": 1,
        "pupils_in_chat": 2,
        "youngest_age": 3,
        "parental_consent": "x",
        "alternative": "x",
        "colour": 1,
    }
    errors = [
        _errors(validate_chat, [], platforms),
        _errors(validate_chat, {}, platforms),
        _errors(validate_chat, bad, platforms),
        _errors(validate_school, {"x": 1}, platforms),
        _errors(validate_school, {"closed_platform": "whatsapp"}, platforms),
    ]
    return {
        "lessonwatch-policy explain": render_text(explain_data(policy, "nl"))
        + render_text(explain_data(titles_on, "nl")),
        "lessonwatch-agent explain": render(policy, "nl", lessons, now, tz, [])
        + render(
            titles_on,
            "nl",
            [],
            now,
            tz,
            [("{}", "2026-11-24 10:31"), *SENT],
            Enrolment(label=None, platform="linux", version="0.1.0", fingerprint="ab12"),
        ),
        # The fingerprint an older agent sent (unkeyed), and none from an older collector.
        "enrolment": "\n".join(
            line
            for mark, keyed in (("ab12", False), (None, True))
            for line in enrolment_text(Enrolment(None, "linux", "0.1.0", mark, keyed), "nl")
        ),
        "helper": "\n".join(helper_text(titles_on, "nl")),
        # The file names ("rules.toml") would read as the English "rules".
        "lessonwatch-policy check": check_summary(dataclasses.replace(policy, sources=("x",)), "nl")
        + "\n"
        + refusal("x", "nl"),
        "findings": "\n".join(
            f.explanation.nl
            for facts, school in chats
            for f in check_chat(facts, school, platforms)
        ),
        "field errors": "\n".join(m for e in errors for m in e.messages("nl").values()),
        # Only the texts: the keys and ids ("rules", "a1-social-media") are not for reading.
        "policy page": "\n".join(
            t for p in (policy, changed()) for t in _texts(describe(p, "nl"), skip={"id", "key"})
        )
        + "\n".join(
            c["text"]
            for before, after in ((policy, changed()), (changed(), policy))
            for c in differences(before, after, "nl")
        ),
    }


def test_dutch_output_contains_no_english_msgid(shipped: Policy) -> None:
    """Nothing English is left in any Dutch text, whatever values fill the placeholders."""
    english = [as_pattern(msgid) for msgid in extracted()]
    english += [as_pattern(plural) for plural in extracted().values() if plural]
    for where, text in dutch_samples(shipped).items():
        assert text.strip()
        # A sent summary is also shown verbatim (JSON, one field a line): its values ("off")
        # are the wire's, deliberately not translated.
        text = re.sub(r'^\s+("[^"\n]*":.*|[\[\]{}],?)$', "", text, flags=re.M)
        leaks = [p.pattern for p in english if p.search(text)]
        assert leaks == [], where


def test_the_dutch_samples_use_every_catalog_entry(shipped: Policy) -> None:
    """The samples above reach every Dutch translation, so the test before it checks them all."""
    text = "\n".join(dutch_samples(shipped).values())
    dutch = load(POS[0])
    unseen = []
    for m in dutch:
        if not m.id:
            continue
        forms = tuple(m.string) if isinstance(m.string, tuple | list) else (m.string or "",)
        if not any(as_pattern(form).search(text) for form in forms):
            unseen.append(m.id)
    assert unseen == []


def test_the_language_is_the_callers_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LANGUAGE and LANG of the process never turn English output Dutch, or the other way."""
    monkeypatch.setenv("LANGUAGE", "nl")
    monkeypatch.setenv("LANG", "nl_NL.UTF-8")
    translator.cache_clear()
    try:
        assert translator("en").gettext("How often") == "How often"
        assert translator("nl").ngettext(
            "{group} has {n} pupil.", "{group} has {n} pupils.", 1
        ) == ("{group} heeft {n} leerling.")
    finally:
        translator.cache_clear()


def test_the_catalogs_ship_in_the_package() -> None:
    """pyproject's package data for policies names every file under policies/locale."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["policies"]
    files = [str(f.relative_to(ROOT / "policies")) for f in LOCALE_DIR.rglob("*") if f.is_file()]
    assert {Path(f).suffix for f in files} == {".po", ".mo"}
    assert [f for f in files if not any(fnmatch(f, p) for p in patterns)] == []
