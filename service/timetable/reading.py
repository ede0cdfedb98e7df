"""Reading an input within its size limit, and decoding it with a line-numbered error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from service.timetable.errors import InputTooLarge, MalformedInput


def _too_large(name: str, limit: int) -> InputTooLarge:
    return InputTooLarge(
        "the file is larger than the limit of %(limit)s bytes; nothing was read further",
        source=name,
        limit=format(limit, ","),
    )


def read_bounded(source: str | os.PathLike[str] | BinaryIO, limit: int, name: str) -> bytes:
    """Read at most ``limit`` bytes; a larger input is refused without reading the rest.

    A path is checked with ``stat`` first, so a 50 MB file is refused without reading it; a
    stream (an upload, an HTTP body) is read to ``limit + 1`` bytes and no further.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.stat().st_size > limit:
            raise _too_large(name, limit)
        with path.open("rb") as stream:
            return read_bounded(stream, limit, name)
    data = source.read(limit + 1)
    if len(data) > limit:
        raise _too_large(name, limit)
    return data


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 text (a byte-order mark is dropped); a bad byte is reported with its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedInput(
            "byte 0x%(byte)02x is not UTF-8; save the file as UTF-8",
            source=name,
            line=line,
            byte=data[exc.start],
        ) from None
