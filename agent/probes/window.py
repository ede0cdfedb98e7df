"""The foreground-window probe (off unless the policy's ``window_title_probe`` is on), and the
per-OS foreground readers behind it: ``window_linux`` (X11), ``window_windows``
(``GetForegroundWindow``), ``window_macos`` (``NSWorkspace.frontmostApplication``), each with
``foreground(environ)``. A system service sees no desktop on Windows and macOS: there the
per-user helper (``agent.helper``) calls ``foreground`` and the service hears its report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.probes import Unavailable
from policies import ProcessSeen, WindowSeen
from policies.catalog import process_key

BROWSERS = frozenset(
    {
        "firefox",
        "firefox-esr",
        "chrome",
        "google-chrome",
        "chromium",
        "chromium-browser",
        "msedge",
        "microsoft-edge",
        "brave",
        "brave-browser",
        "opera",
        "vivaldi",
        "vivaldi-bin",
    }
)


@dataclass(frozen=True)
class Foreground:
    """The app that owns the foreground window, and the window's title where readable."""

    app: ProcessSeen | None
    title: str | None
    titles_readable: bool = True  # False where the OS will not give titles (macOS without AX)


def is_browser(app: ProcessSeen | None) -> bool:
    return app is not None and any(process_key(v) in BROWSERS for v in (app.name, app.exe) if v)


def foreground(environ: Mapping[str, str]) -> Foreground | None:
    """The foreground app now; None when no window has the focus; ``Unavailable`` when the OS
    will not say (no X11 display, Wayland, no PyObjC/pywin32)."""
    if sys.platform == "win32":
        from agent.probes import window_windows as impl
    elif sys.platform == "darwin":
        from agent.probes import window_macos as impl
    else:
        from agent.probes import window_linux as impl
    return impl.foreground(environ)


class WindowProbe:
    name = "window_title"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self) -> Sequence[WindowSeen]:
        if not sys.platform.startswith("linux"):
            # A service in session 0 (Windows) or a LaunchDaemon (macOS) has no desktop: the
            # title comes from the per-user helper there, or not at all.
            raise Unavailable(f"no desktop for a service on {sys.platform}")
        seen = foreground(os.environ)
        if seen is None or seen.title is None:
            return []
        return [WindowSeen(title=seen.title, browser=is_browser(seen.app), platform="linux")]
