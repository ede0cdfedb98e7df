"""Capture folders on Linux: the XDG user dirs of the signed-in user (detection.md §7)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path


def user_dirs(text: str, home: Path) -> dict[str, Path]:
    """Parse ``user-dirs.dirs`` (``XDG_PICTURES_DIR="$HOME/Bilder"``); names are localized."""
    dirs: dict[str, Path] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("XDG_") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue
        if len(parts) != 1:
            continue
        value = parts[0]
        if value.startswith("$HOME"):
            value = str(home) + value[len("$HOME") :]
        if value.startswith("/"):
            dirs[key.strip()] = Path(value)
    return dirs


def capture_folders(home: Path, environ: Mapping[str, str]) -> list[Path]:
    config = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    try:
        text = (config / "user-dirs.dirs").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    dirs = user_dirs(text, home)
    pictures = dirs.get("XDG_PICTURES_DIR", home / "Pictures")
    videos = dirs.get("XDG_VIDEOS_DIR", home / "Videos")
    return [
        pictures / "Screenshots",  # GNOME >= 42, KDE Spectacle
        videos / "Screencasts",  # GNOME screencasts, Spectacle
        pictures / "Camera",  # GNOME Snapshot
        videos / "Camera",
        pictures / "Snapshot",  # older GNOME Snapshot builds
        videos / "Snapshot",
        pictures / "Webcam",  # Cheese
        videos / "Webcam",
    ]
