"""The per-source mapping: validation with clear errors, and reading Dutch timetable codes."""

from __future__ import annotations

from typing import Any

import pytest

from service.timetable import MappingError, parse_mapping
from service.timetable.mapping import apply_mapping


def read(mapping: Any, summary: str = "", location: str = "", description: str = ""):  # type: ignore[no-untyped-def]
    return apply_mapping(
        parse_mapping(mapping),
        summary=summary,
        location=location,
        description=description,
        max_chars=1000,
    )


@pytest.mark.parametrize(
    ("mapping", "summary", "location", "description", "expected"),
    [
        # presets
        ("vak-klas-docent", "wi - 3B - jdv", "217", "", ("wi", "3B", "jdv", "217")),
        (
            "lokaal-lesgroep-docent",
            "217 - A5wisB_2 - Stk",
            "",
            "",
            (None, "A5wisB_2", "Stk", "217"),
        ),
        (None, "Wiskunde", "217", "", ("Wiskunde", None, None, "217")),
        # split with a skipped part
        (
            {"summary": {"split": " - ", "fields": ["room", "subject", "group", "-"]}},
            "217 - wisB - A5wisB_2 - stk",
            "",
            "",
            ("wisB", "A5wisB_2", None, "217"),
        ),
        # named regex
        (
            {"description": {"regex": r"Docent: (?P<teacher>\w+)"}},
            "",
            "",
            "Docent: jdv, klas 3B",
            (None, None, "jdv", None),
        ),
        # SUMMARY wins over LOCATION for the same field
        (
            {"summary": {"split": "/", "fields": ["subject", "room"]}, "location": "room"},
            "wi/101",
            "217",
            "",
            ("wi", None, None, "101"),
        ),
        # whitespace is normalised
        ("vak-klas-docent", "  wi  -  3B -   jdv ", "", "", ("wi", "3B", "jdv", None)),
    ],
)
def test_mapping_reads_fields(mapping, summary, location, description, expected) -> None:  # type: ignore[no-untyped-def]
    """Each mapping gives subject, group, teacher and room from the event's text."""
    got = read(mapping, summary, location, description)
    assert (got.subject, got.group, got.teacher, got.room) == expected


@pytest.mark.parametrize(
    ("summary", "unmatched"),
    [("wi - 3B", ("summary",)), ("wi - 3B - jdv - extra", ("summary",)), ("wi - 3B - jdv", ())],
)
def test_values_that_do_not_fit_are_reported(summary: str, unmatched: tuple[str, ...]) -> None:
    """A split with the wrong number of parts fills nothing and names the property."""
    got = read("vak-klas-docent", summary)
    assert got.unmatched == unmatched
    if unmatched:
        assert (got.subject, got.group, got.teacher) == (None, None, None)


def test_markers_are_case_insensitive_for_remote() -> None:
    """Remote markers match in any case, in SUMMARY or LOCATION."""
    got = read({"location": "room", "remote_markers": ["online"]}, location="Online (Teams)")
    assert got.remote


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("bestaat-niet", "no mapping preset 'bestaat-niet'"),
        ({"titel": "subject"}, "unknown keys ['titel']"),
        ({"summary": "vak"}, "summary: 'vak' is not one of subject, group, teacher, room or '-'"),
        ({"summary": 3}, "summary must be a field name or a table with split or regex"),
        (
            {"summary": {"split": "", "fields": ["subject"]}},
            "summary.split must be a non-empty string",
        ),
        ({"summary": {"split": "-", "fields": []}}, "summary.fields must be a non-empty list"),
        (
            {"summary": {"split": "-", "fields": ["subject", "subject"]}},
            "summary.fields names subject more than once",
        ),
        ({"summary": {"regex": "(unclosed"}}, "summary.regex does not compile"),
        ({"summary": {"regex": "plain"}}, "summary.regex names no group"),
        ({"summary": {"regex": "(?P<klas>.*)"}}, "summary.regex group: 'klas' is not one of"),
        ({"summary": {"regex": "x" * 501}}, "summary.regex must be a string of 1 to 500"),
        ({"summary": {"split": "-"}}, "summary needs either split and fields, or regex"),
        ({"cancelled_markers": "[x]"}, "cancelled_markers must be a list of non-empty strings"),
        ({"remote_markers": [""]}, "remote_markers must be a list of non-empty strings"),
    ],
)
def test_invalid_mappings_are_refused_with_a_reason(mapping: Any, message: str) -> None:
    """Every mistake in a mapping is named, with where it is."""
    with pytest.raises(MappingError) as caught:
        parse_mapping(mapping, name="bron 'zermelo'")
    assert str(caught.value).startswith("bron 'zermelo': ")
    assert message in str(caught.value)


def test_overlong_values_are_cut_before_matching() -> None:
    """A hostile SUMMARY is cut to the field limit before any regex sees it."""
    got = apply_mapping(
        parse_mapping({"summary": {"regex": "(?P<subject>.*)"}}),
        summary="a" * 100_000,
        location="",
        description="",
        max_chars=50,
    )
    assert got.subject == "a" * 50
