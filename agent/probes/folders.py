"""The capture folders of the signed-in user, per OS (one module each, imported lazily)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path


def capture_folders(home: Path, environ: Mapping[str, str]) -> list[Path]:
    if sys.platform == "win32":
        from agent.probes import folders_windows as impl
    elif sys.platform == "darwin":
        from agent.probes import folders_macos as impl
    else:
        from agent.probes import folders_linux as impl
    return impl.capture_folders(home, environ)
