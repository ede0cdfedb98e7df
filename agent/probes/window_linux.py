"""The foreground window on Linux/X11, through ``xprop`` (detection.md §5.1, §5.4).

Wayland has no generic way to read the active window: there the probe is unavailable. The
title lives in a local variable and goes only to the engine, which keeps a catalog match or
nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping

from agent.probes import Unavailable
from agent.probes.processes import describe
from agent.probes.window import Foreground

_WINDOW_ID = re.compile(r"window id # (0x[0-9a-fA-F]+)")
_PID = re.compile(r"_NET_WM_PID\(CARDINAL\) = (\d+)")
_NAME = re.compile(r'_NET_WM_NAME\(UTF8_STRING\) = "(.*)"$', re.MULTILINE)


def _xprop(environ: Mapping[str, str], *args: str) -> str:
    try:
        out = subprocess.run(
            ["xprop", *args],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
            env=dict(environ),
        )
    except (OSError, subprocess.SubprocessError):
        raise Unavailable("xprop failed") from None
    if out.returncode != 0:
        raise Unavailable("xprop could not read the display")
    return out.stdout


def foreground(environ: Mapping[str, str]) -> Foreground | None:
    if not environ.get("DISPLAY"):
        raise Unavailable("no X11 display (Wayland or no session)")
    if not shutil.which("xprop", path=environ.get("PATH")):
        raise Unavailable("xprop is not installed")
    match = _WINDOW_ID.search(_xprop(environ, "-root", "_NET_ACTIVE_WINDOW"))
    if not match or int(match.group(1), 16) == 0:
        return None
    props = _xprop(environ, "-id", match.group(1), "_NET_WM_PID", "_NET_WM_NAME")
    pid, name = _PID.search(props), _NAME.search(props)
    owner = describe(int(pid.group(1)), "linux") if pid else None
    return Foreground(app=owner, title=name.group(1) if name else None)
