"""The foreground app on Windows: ``GetForegroundWindow`` and its process (detection.md §5.1-5.2).

Runs in the per-user helper: a service in session 0 has no desktop to ask. pywin32 is imported
when called, and its absence is ``Unavailable``. A UWP app's window belongs to
``ApplicationFrameHost.exe``; the app is the child window with another process.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from agent.probes import Unavailable
from agent.probes.processes import describe
from agent.probes.window import Foreground

FRAME_HOST = "applicationframehost.exe"


def _win32() -> tuple[Any, Any]:
    try:
        return importlib.import_module("win32gui"), importlib.import_module("win32process")
    except ImportError:
        raise Unavailable("pywin32 is not installed") from None


def owner_pid(frame_pid: int, frame_name: str | None, children: list[int]) -> int:
    """The pid that owns the app: a UWP frame's first child of another process, else the frame's.

    ``children`` are the pids of the frame window's child windows, in z-order.
    """
    if (frame_name or "").casefold() != FRAME_HOST:
        return frame_pid
    return next((pid for pid in children if pid != frame_pid), frame_pid)


def foreground(environ: Mapping[str, str]) -> Foreground | None:  # pragma: no cover - Windows
    del environ
    win32gui, win32process = _win32()
    hwnd = win32gui.GetForegroundWindow()
    if not hwnd:
        return None  # UAC prompt, lock screen, secure desktop
    _tid, pid = win32process.GetWindowThreadProcessId(hwnd)
    title = win32gui.GetWindowText(hwnd) or None
    frame = describe(pid, "windows")
    children: list[int] = []

    def child(handle: int, _extra: object) -> bool:
        children.append(win32process.GetWindowThreadProcessId(handle)[1])
        return True

    if frame is not None and (frame.name or "").casefold() == FRAME_HOST:
        win32gui.EnumChildWindows(hwnd, child, None)
    app_pid = owner_pid(pid, frame.name if frame else None, children)
    app = frame if app_pid == pid else describe(app_pid, "windows")
    return Foreground(app=app, title=title)
