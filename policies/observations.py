"""What probes saw, as plain data handed to the engine.

These carry raw strings (process names, paths, titles) and therefore never leave the device:
the engine reduces them to catalog matches, and only ``Finding`` objects travel further.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from policies.model import Platform


@dataclass(frozen=True)
class ProcessSeen:
    """A running process. Any field may be missing (AccessDenied, platform without it)."""

    name: str | None = None
    exe: str | None = None
    bundle_id: str | None = None
    flatpak_id: str | None = None
    snap_name: str | None = None
    store_package: str | None = None
    platform: Platform | None = None


@dataclass(frozen=True)
class WindowSeen:
    """The foreground window. Titles count only when the window belongs to a browser."""

    title: str
    browser: bool
    platform: Platform | None = None


@dataclass(frozen=True)
class DomainSeen:
    """A host visited in a browser tab (from a browser extension)."""

    host: str


@dataclass(frozen=True)
class TabSeen:
    """The active browser tab as the browser extension classified it on the device: a catalog
    category and app family (paired mode, docs/agent.md). The host, URL and title never
    reach the agent; the engine still checks both ids against its own catalog."""

    category: str
    family: str


@dataclass(frozen=True)
class DeviceInUse:
    """Camera or microphone in use, attributed to a process where the OS tells which."""

    device: Literal["camera", "microphone"]
    holder: ProcessSeen | None = None


@dataclass(frozen=True)
class CaptureFileSeen:
    """A new file in a capture folder. Only its extension is ever looked at."""

    path: str


Observation = ProcessSeen | WindowSeen | DomainSeen | TabSeen | DeviceInUse | CaptureFileSeen
