"""Capture folders on macOS: the screenshot location (``com.apple.screencapture``) and friends."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path


def screenshot_location(home: Path) -> Path:  # pragma: no cover - needs macOS
    try:
        out = subprocess.run(
            ["defaults", "read", "com.apple.screencapture", "location"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return home / "Desktop"
    value = out.stdout.strip()
    return Path(value).expanduser() if out.returncode == 0 and value else home / "Desktop"


def capture_folders(home: Path, environ: Mapping[str, str]) -> list[Path]:
    del environ
    return [
        screenshot_location(home),  # screenshots and ⌘⇧5 recordings
        home / "Movies",  # QuickTime recordings
        home / "Pictures" / "Photo Booth Library" / "Pictures",
        home / "Library/Group Containers/group.com.apple.VoiceMemos.shared/Recordings",
    ]
