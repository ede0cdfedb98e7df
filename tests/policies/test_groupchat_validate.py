"""Validating a declared chat and the school setting: every bad field is named with a message."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.groupchat import (
    FIELDS,
    PURPOSES,
    Chat,
    ChatInputError,
    School,
    load_platforms,
    validate_chat,
    validate_school,
)

CATALOG = load_platforms()
GOOD: dict[str, Any] = {
    "group": "3B",
    "platform": "telegram",
    "account": "school",
    "purposes": ["homework", "trips"],
    "pupils_in_class": 28,
    "pupils_in_chat": 26,
    "youngest_age": 14,
    "parental_consent": True,
    "alternative": "mail",
}


def changed(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def test_a_good_chat_validates() -> None:
    """A complete, sensible declaration becomes a Chat with the same facts."""
    chat = validate_chat(GOOD, CATALOG)
    assert chat == Chat(
        group="3B",
        platform="telegram",
        account="school",
        purposes=frozenset({"homework", "trips"}),
        pupils_in_class=28,
        pupils_in_chat=26,
        youngest_age=14,
        parental_consent=True,
        alternative="mail",
    )
    assert chat.to_dict() == GOOD


def test_the_group_name_is_trimmed() -> None:
    """Spaces a form adds around the class name are dropped."""
    assert validate_chat(changed(group="  4 havo-a "), CATALOG).group == "4 havo-a"


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("how", ["absent", "null"])
def test_a_missing_field_is_named(field: str, how: str) -> None:
    """Leaving out any field, or sending null, names that field as missing."""
    raw = {k: v for k, v in GOOD.items() if k != field}
    if how == "null":
        raw[field] = None
    with pytest.raises(ChatInputError) as caught:
        validate_chat(raw, CATALOG)
    assert caught.value.fields == (field,)
    assert caught.value.messages("en")[field] == "This field is missing."
    assert caught.value.messages("nl")[field] == "Dit veld ontbreekt."


BAD = [
    # --- platform ---------------------------------------------------------------------------
    ({"platform": "myspace"}, "platform", "Unknown platform"),
    ({"platform": "WhatsApp"}, "platform", "Unknown platform"),
    ({"platform": ["whatsapp"]}, "platform", "Unknown platform"),
    ({"platform": ""}, "platform", "Unknown platform"),
    # --- impossible counts ------------------------------------------------------------------
    (
        {"pupils_in_chat": 29},
        "pupils_in_chat",
        "More pupils in the chat (29) than in the class (28)",
    ),
    ({"pupils_in_chat": -1}, "pupils_in_chat", "A whole number from 0 to 500"),
    ({"pupils_in_class": 0}, "pupils_in_class", "A whole number from 1 to 500"),
    ({"pupils_in_class": 501}, "pupils_in_class", "A whole number from 1 to 500"),
    ({"pupils_in_class": 28.0}, "pupils_in_class", "A whole number"),
    ({"pupils_in_class": "28"}, "pupils_in_class", "A whole number"),
    ({"pupils_in_class": True}, "pupils_in_class", "A whole number"),
    # --- negative or absurd ages ------------------------------------------------------------
    ({"youngest_age": -1}, "youngest_age", "A whole number from 4 to 30"),
    ({"youngest_age": 0}, "youngest_age", "A whole number from 4 to 30"),
    ({"youngest_age": 3}, "youngest_age", "A whole number from 4 to 30"),
    ({"youngest_age": 31}, "youngest_age", "A whole number from 4 to 30"),
    ({"youngest_age": 150}, "youngest_age", "A whole number from 4 to 30"),
    ({"youngest_age": 10**100}, "youngest_age", "A whole number from 4 to 30"),
    ({"youngest_age": 12.5}, "youngest_age", "A whole number"),
    ({"youngest_age": float("nan")}, "youngest_age", "A whole number"),
    ({"youngest_age": "twelve"}, "youngest_age", "A whole number"),
    # --- purposes from the fixed list, each once ---------------------------------------------
    ({"purposes": []}, "purposes", "Choose one or more purposes"),
    ({"purposes": ["partying"]}, "purposes", "Choose one or more purposes"),
    ({"purposes": ["homework", "homework"]}, "purposes", "each once"),
    ({"purposes": "homework"}, "purposes", "Choose one or more purposes"),
    ({"purposes": [1]}, "purposes", "Choose one or more purposes"),
    ({"purposes": [["homework"]]}, "purposes", "Choose one or more purposes"),
    ({"purposes": {"homework": True}}, "purposes", "Choose one or more purposes"),
    ({"purposes": ["homework"] * 100_000}, "purposes", "Choose one or more purposes"),
    # --- choices ------------------------------------------------------------------------------
    ({"account": "personal"}, "account", "Choose one of: school, private"),
    ({"account": "School"}, "account", "Choose one of: school, private"),
    ({"alternative": "whatsapp"}, "alternative", "Choose one of: none, mail, post"),
    ({"parental_consent": "yes"}, "parental_consent", "Yes or no"),
    ({"parental_consent": 1}, "parental_consent", "Yes or no"),
    # --- the group name: short, plain text ----------------------------------------------------
    ({"group": ""}, "group", "A name of 1 to 40 plain characters"),
    ({"group": "   "}, "group", "A name of 1 to 40 plain characters"),
    ({"group": "x" * 41}, "group", "A name of 1 to 40 plain characters"),
    ({"group": "x" * 1_000_000}, "group", "A name of 1 to 40 plain characters"),
    ({"group": "3B\n<script>"}, "group", "A name of 1 to 40 plain characters"),
    (
        {"group": "3B\u202e"},
        "group",
        "A name of 1 to 40 plain characters",
    ),  # right-to-left override
    ({"group": "3B\x00"}, "group", "A name of 1 to 40 plain characters"),
    ({"group": 3}, "group", "A name of 1 to 40 plain characters"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_bad_field_is_named_with_a_message(
    change: dict[str, Any], field: str, message: str
) -> None:
    """Each malformed, oversized or hostile value is refused with its field and a clear message."""
    with pytest.raises(ChatInputError) as caught:
        validate_chat(changed(**change), CATALOG)
    assert caught.value.fields == (field,)
    assert message in caught.value.messages("en")[field]
    assert caught.value.messages("nl")[field]
    assert str(caught.value).startswith(f"{field}: ")


def test_content_fields_are_refused() -> None:
    """Message content, member names or phone numbers have no field to go in: they are refused."""
    raw = changed(messages=["hoi"], members=["Sam"], phone_numbers=["0612345678"])
    with pytest.raises(ChatInputError) as caught:
        validate_chat(raw, CATALOG)
    assert caught.value.fields == ("chat",)
    assert "Unknown field 'members'" in caught.value.messages("en")["chat"]
    assert "Onbekend veld 'members'" in caught.value.messages("nl")["chat"]


def test_an_unknown_field_name_is_echoed_short_and_printable() -> None:
    """A hostile field name comes back cut to 40 printable characters."""
    hostile = "\x1b[31m" + "a" * 10_000
    with pytest.raises(ChatInputError) as caught:
        validate_chat({**GOOD, hostile: 1}, CATALOG)
    message = caught.value.messages("en")["chat"]
    assert "\x1b" not in message
    assert "a" * 41 not in message


def test_many_unknown_fields_give_one_message() -> None:
    """Ten thousand extra fields give one message, not ten thousand."""
    raw = {**GOOD, **{f"x{i}": i for i in range(10_000)}}
    with pytest.raises(ChatInputError) as caught:
        validate_chat(raw, CATALOG)
    assert caught.value.fields == ("chat",)


def test_every_bad_field_is_named_at_once() -> None:
    """A form with several mistakes gets a message next to each, in one answer."""
    raw = changed(platform="myspace", youngest_age=-3, purposes=[], account=None)
    with pytest.raises(ChatInputError) as caught:
        validate_chat(raw, CATALOG)
    assert set(caught.value.fields) == {"platform", "youngest_age", "purposes", "account"}


@pytest.mark.parametrize("raw", [None, [], "3B", 42, [("group", "3B")]])
def test_not_an_object_is_refused(raw: Any) -> None:
    """Anything but an object is refused as a whole, naming the chat."""
    with pytest.raises(ChatInputError) as caught:
        validate_chat(raw, CATALOG)
    assert caught.value.fields == ("chat",)


def test_validation_changes_nothing_and_replays_the_same() -> None:
    """Validating the same declaration twice gives the same chat and leaves the input as it was."""
    raw = copy.deepcopy(GOOD)
    first = validate_chat(raw, CATALOG)
    second = validate_chat(raw, CATALOG)
    assert first == second
    assert raw == GOOD


def test_a_json_round_trip_gives_the_same_chat() -> None:
    """What the collector stores as JSON reads back to the same chat."""
    chat = validate_chat(GOOD, CATALOG)
    assert validate_chat(json.loads(json.dumps(chat.to_dict())), CATALOG) == chat


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from([*FIELDS, "extra"]), json_values))
def test_any_json_gives_a_chat_or_a_field_error(raw: dict[str, Any]) -> None:
    """Whatever JSON arrives, the answer is a Chat or an error naming fields, never a crash."""
    try:
        chat = validate_chat(raw, CATALOG)
    except ChatInputError as exc:
        assert exc.errors
        assert set(exc.fields) <= {*FIELDS, "chat"}
    else:
        assert chat.pupils_in_chat <= chat.pupils_in_class
        assert chat.platform in CATALOG.platforms


@given(
    st.fixed_dictionaries(
        {
            "group": st.sampled_from(["1A", "3B", "groep 8", "4 havo-b"]),
            "platform": st.sampled_from(sorted(CATALOG.platforms)),
            "account": st.sampled_from(["school", "private"]),
            "purposes": st.lists(st.sampled_from(PURPOSES), min_size=1, unique=True),
            "pupils_in_class": st.integers(1, 500),
            "pupils_in_chat": st.integers(0, 500),
            "youngest_age": st.integers(4, 30),
            "parental_consent": st.booleans(),
            "alternative": st.sampled_from(["none", "mail", "post", "school_platform", "other"]),
        }
    )
)
def test_valid_declarations_round_trip(raw: dict[str, Any]) -> None:
    """Every declaration with possible counts validates, and its JSON form reads back equal."""
    if raw["pupils_in_chat"] > raw["pupils_in_class"]:
        with pytest.raises(ChatInputError):
            validate_chat(raw, CATALOG)
        return
    chat = validate_chat(raw, CATALOG)
    assert validate_chat(chat.to_dict(), CATALOG) == chat


# --- The school's setting -----------------------------------------------------------------------

SCHOOLS = [
    ({}, School()),
    ({"closed_platform": None}, School()),
    ({"closed_platform": "parro"}, School("parro")),
    ({"closed_platform": "microsoft_teams_education"}, School("microsoft_teams_education")),
]


@pytest.mark.parametrize(("raw", "expected"), SCHOOLS)
def test_school_setting_validates(raw: dict[str, Any], expected: School) -> None:
    """No closed platform, or a closed one from the catalog, is a valid school setting."""
    assert validate_school(raw, CATALOG) == expected


BAD_SCHOOLS = [
    ({"closed_platform": "whatsapp"}, "closed_platform"),  # in the catalog, but not closed
    ({"closed_platform": "instagram"}, "closed_platform"),
    ({"closed_platform": "myspace"}, "closed_platform"),
    ({"closed_platform": 3}, "closed_platform"),
    ({"closed_platform": ["parro"]}, "closed_platform"),
    ({"closed_platform": "parro", "extra": 1}, "school"),
    ([], "school"),
    (None, "school"),
]


@pytest.mark.parametrize(("raw", "field"), BAD_SCHOOLS)
def test_bad_school_setting_is_named(raw: Any, field: str) -> None:
    """A school can only choose a closed school platform, and nothing else can ride along."""
    with pytest.raises(ChatInputError) as caught:
        validate_school(raw, CATALOG)
    assert caught.value.fields == (field,)
    assert caught.value.messages("nl")[field] and caught.value.messages("en")[field]
