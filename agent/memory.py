"""Keeping the running agent small: freed memory handed back, unused library parts not loaded.

Measured in docs/performance.md ("Agent"). Two things, both for ``lessonwatch-agent run`` only:

- ``trim``: glibc keeps memory that Python freed (import-time garbage, a parsed config, the
  first sample of a lesson) in its heaps instead of returning it to the OS; ``malloc_trim(0)``
  returns it. Where no glibc is present (macOS, Windows, musl) it does nothing.
- ``skip_charset_detection``: requests imports charset_normalizer (about 3 MiB resident, with
  the CJK codecs and unicodedata) only to guess the encoding of text bodies. The agent never
  asks for ``Response.text``: it reads the raw bytes and decodes JSON itself, and requests
  falls back to UTF-8 when no detector is installed.
"""

from __future__ import annotations

import ctypes
import sys
import warnings
from collections.abc import Callable, MutableMapping
from typing import Any

_DETECTORS = ("charset_normalizer", "chardet")
_trim_fn: Callable[[int], int] | None = None
_looked_up = False


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim_fn, _looked_up
    if not _looked_up:
        _looked_up = True
        if sys.platform.startswith("linux"):
            try:
                _trim_fn = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
                _trim_fn = None
    return _trim_fn


def trim() -> bool:
    """Return freed heap memory to the OS; True if glibc's ``malloc_trim`` ran. Never raises."""
    fn = _malloc_trim()
    if fn is None:
        return False
    try:
        fn(0)
    except OSError:
        return False
    return True


def skip_charset_detection(modules: MutableMapping[str, Any] | None = None) -> bool:
    """Keep requests from importing a character detector; True if it will not load one.

    Call before anything imports requests, in the agent's own process only (it changes what
    ``import`` does for the whole process). Does nothing once requests or a detector is loaded.
    """
    table: MutableMapping[str, Any] = sys.modules if modules is None else modules
    if "requests" in table or any(table.get(name) is not None for name in _DETECTORS):
        return False
    for name in _DETECTORS:
        table[name] = None  # the import system's "not available": ``import`` raises ImportError
    # requests warns once at import when it finds no detector; here that is intended.
    warnings.filterwarnings(
        "ignore", message="Unable to find acceptable character detection dependency"
    )
    return True
