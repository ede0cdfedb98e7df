"""From bytes to an import result: which format a file is, which mapping a source uses.

The format is told by content, not by the file's name: a calendar starts with
``BEGIN:VCALENDAR``, a Zermelo answer is a JSON object, anything else is read as CSV (whose
header check then says what is wrong).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from service.timetable import (
    PRESETS,
    ImportResult,
    Limits,
    MappingError,
    SourceMapping,
    Window,
    import_csv,
    import_ical,
    import_zermelo,
    parse_mapping,
)
from service.timetable.storable import require_groups

KINDS = ("ical_file", "ical_url", "zermelo", "csv")
MAX_MAPPING_BYTES = 64 * 1024


def detect(data: bytes) -> str:
    """``ical``, ``zermelo`` or ``csv``, from the first characters of the content."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    if head.startswith(b"BEGIN:VCALENDAR"):
        return "ical"
    if head.startswith(b"{"):
        return "zermelo"
    return "csv"


def mapping_text(value: str) -> str:
    """A preset's name as it is, or the text of a mapping file (TOML); checked either way."""
    if value in PRESETS:
        return value
    path = Path(value)
    if not path.is_file():
        raise MappingError(
            "no mapping preset or file %(name)r; presets: %(presets)s",
            source=value[:100],
            name=value[:100],
            presets=", ".join(PRESETS),
        )
    if path.stat().st_size > MAX_MAPPING_BYTES:
        raise MappingError(
            "larger than %(limit)s bytes", source=path.name, limit=format(MAX_MAPPING_BYTES, ",")
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    mapping_of(text, name=path.name)
    return text


def mapping_of(text: str | None, *, name: str = "mapping") -> SourceMapping:
    """The mapping stored for a source: None (the default), a preset's name, or TOML."""
    if text is None or text in PRESETS:
        return parse_mapping(text, name=name)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError("not valid TOML: %(problem)s", source=name, problem=exc) from None
    return parse_mapping(document, name=name)


def read(
    data: bytes,
    *,
    fmt: str,
    source: str,
    name: str,
    tz: ZoneInfo,
    window: Window,
    mapping: SourceMapping,
    default_group: str | None,
    partial: bool,
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """The occurrences of one input in its format; every lesson has a group (or it is refused)."""
    if fmt == "ical":
        result = import_ical(
            data,
            source=source,
            tz=tz,
            window=window,
            mapping=mapping,
            name=name,
            default_group=default_group,
            limits=limits,
            partial=partial,
            progress=progress,
        )
    elif fmt == "zermelo":
        result = import_zermelo(
            data,
            source=source,
            window=window,
            name=name,
            default_group=default_group,
            limits=limits,
            partial=partial,
        )
    else:
        result = import_csv(
            data, source=source, tz=tz, window=window, name=name, limits=limits, partial=partial
        )
    return require_groups(result, name=name, partial=partial, limits=limits)
