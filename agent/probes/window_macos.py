"""The foreground app on macOS: ``NSWorkspace.frontmostApplication`` (detection.md §1, §5.1).

Runs in the per-user helper (a LaunchAgent in the user's GUI session); a LaunchDaemon has no
window server connection. It needs no TCC grant and gives the bundle id, name and pid. The
window title would need the Accessibility grant (AX): not read, so ``title`` is always None.
PyObjC is imported when called; without it the reader is ``Unavailable``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from agent.probes import Unavailable
from agent.probes.window import Foreground
from policies import ProcessSeen


def app_of(info: Mapping[str, Any]) -> ProcessSeen | None:
    """What ``NSRunningApplication`` says (``bundle_id``, ``name``, ``exe``) as a process."""
    if not any(info.get(k) for k in ("bundle_id", "name", "exe")):
        return None
    return ProcessSeen(
        name=info.get("name") or None,
        exe=info.get("exe") or None,
        bundle_id=info.get("bundle_id") or None,
        platform="macos",
    )


def _frontmost() -> dict[str, Any]:  # pragma: no cover - needs macOS
    try:
        appkit = importlib.import_module("AppKit")
    except ImportError:
        raise Unavailable("PyObjC (AppKit) is not installed") from None
    app = appkit.NSWorkspace.sharedWorkspace().frontmostApplication()
    if app is None:
        return {}
    url = app.executableURL()
    return {
        "bundle_id": app.bundleIdentifier(),
        "name": app.localizedName(),
        "exe": url.path() if url is not None else None,
    }


def foreground(environ: Mapping[str, str]) -> Foreground | None:
    del environ
    app = app_of(_frontmost())
    return Foreground(app=app, title=None, titles_readable=False) if app else None
