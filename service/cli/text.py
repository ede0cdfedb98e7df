"""Stored text printed by the command line: escaped, so text that came from a device, a
timetable feed or a holiday file cannot move IT's cursor, forge rows or hide what follows."""

from __future__ import annotations

JSON_HELP = "print JSON instead of tab-separated lines"


def shown(text: str | None) -> str:
    """One table cell: control, format and other unprintable characters escaped (``\\x1b``,
    ``\\u202e``, ``\\t``, ``\\n``); ``-`` for nothing."""
    if not text:
        return "-"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def tsv(*cells: str | None) -> str:
    """A tab-separated line of escaped cells."""
    return "\t".join(shown(c) for c in cells)
