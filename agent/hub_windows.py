"""The helper channel on Windows: a named pipe the service (LocalSystem, session 0) creates.

- The first instance is created with ``FILE_FLAG_FIRST_PIPE_INSTANCE``: if any other process
  already owns the name (pipe squatting), the service fails to start the channel instead of
  sharing it. ``PIPE_REJECT_REMOTE_CLIENTS`` keeps it local.
- Its DACL (``PIPE_SDDL``) gives SYSTEM full control and interactive users read and
  ``FILE_WRITE_DATA`` only: not ``FILE_APPEND_DATA``, which for a pipe is the right to create
  another server instance, so a pupil cannot serve the pipe.
- A client is heard only when its session (``GetNamedPipeClientSessionId``) is the active
  console session (``WTSGetActiveConsoleSessionId``): ``peers.session_accepted``.

The bytes then go through the same ``Hub`` as on POSIX. pywin32 and ctypes' ``windll`` are used
here only; none of this can run on the Linux development machines, so only the decisions
(``peers.session_accepted``, ``Hub``) are tested there (docs/deploy.md says so).
"""

from __future__ import annotations

import ctypes
import importlib
import itertools
import logging
import threading
import time
from typing import Any

from agent import peers
from agent.hub import Hub
from agent.probes import Unavailable

log = logging.getLogger(__name__)

PIPE_SDDL = "D:P(A;;GA;;;SY)(A;;0x12008b;;;IU)"
PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000


def _mods() -> dict[str, Any]:
    try:
        names = ("win32file", "win32pipe", "win32event", "win32security", "pywintypes")
        return {n: importlib.import_module(n) for n in names}
    except ImportError:
        raise Unavailable("pywin32 is not installed") from None


def console_session() -> int:  # pragma: no cover - needs Windows
    return int(ctypes.windll.kernel32.WTSGetActiveConsoleSessionId())  # type: ignore[attr-defined]


def client_session(handle: Any) -> int | None:  # pragma: no cover - needs Windows
    value = ctypes.c_ulong()
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    if not kernel32.GetNamedPipeClientSessionId(int(handle), ctypes.byref(value)):
        return None
    return value.value


class PipeHub:  # pragma: no cover - needs Windows
    def __init__(self, hub: Hub, name: str):
        self.hub, self.name, self.m = hub, name, _mods()
        self.conns: dict[int, Any] = {}
        self.keys = itertools.count(1)
        self.lock = threading.Lock()
        self.event = threading.Event()
        self.closing = threading.Event()
        self.first = True
        hub.wake = self.event.set

    def start(self) -> None:
        handle = self._instance()  # fails now, in the service's start-up, if the name is taken
        threading.Thread(target=self._listen, args=(handle,), daemon=True).start()
        threading.Thread(target=self._tend, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.event.set()
        with self.lock:
            for handle in self.conns.values():
                handle.Close()
            self.conns.clear()

    def _instance(self) -> Any:
        sec = self.m["win32security"]
        sa = self.m["pywintypes"].SECURITY_ATTRIBUTES()
        sa.SECURITY_DESCRIPTOR = sec.ConvertStringSecurityDescriptorToSecurityDescriptor(
            PIPE_SDDL, sec.SDDL_REVISION_1
        )
        p, f = self.m["win32pipe"], self.m["win32file"]
        mode = p.PIPE_ACCESS_DUPLEX | f.FILE_FLAG_OVERLAPPED
        if self.first:
            mode |= FILE_FLAG_FIRST_PIPE_INSTANCE
            self.first = False
        return p.CreateNamedPipe(
            self.name, mode,
            p.PIPE_TYPE_BYTE | p.PIPE_READMODE_BYTE | p.PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            p.PIPE_UNLIMITED_INSTANCES, 8192, 8192, 0, sa,
        )  # fmt: skip

    def _listen(self, handle: Any) -> None:
        p, ev, pt = self.m["win32pipe"], self.m["win32event"], self.m["pywintypes"]
        while not self.closing.is_set():
            try:
                ov = pt.OVERLAPPED()
                ov.hEvent = ev.CreateEvent(None, True, False, None)
                p.ConnectNamedPipe(handle, ov)
                ev.WaitForSingleObject(ov.hEvent, ev.INFINITE)
                self._opened(handle)
                handle = self._instance()
            except Exception as exc:
                log.error("helper channel: %s", exc.__class__.__name__)
                time.sleep(1)

    def _opened(self, handle: Any) -> None:
        key = next(self.keys)
        allowed = peers.session_accepted(client_session(handle), console_session())
        refusal = self.hub.opened(key, None, allowed, time.monotonic())
        if refusal is not None:
            self._write(handle, refusal)
            handle.Close()
            return
        with self.lock:
            self.conns[key] = handle
        threading.Thread(target=self._read, args=(key, handle), daemon=True).start()

    def _read(self, key: int, handle: Any) -> None:
        f, ev, pt = self.m["win32file"], self.m["win32event"], self.m["pywintypes"]
        ov = pt.OVERLAPPED()
        ov.hEvent = ev.CreateEvent(None, True, False, None)
        buf = f.AllocateReadBuffer(8192)
        while True:
            try:
                f.ReadFile(handle, buf, ov)
                n = f.GetOverlappedResult(handle, ov, True)
            except pt.error:
                n = 0
            if not n or not self.hub.received(key, bytes(buf[:n]), time.monotonic()):
                self.hub.closed(key)
                self._close(key)
                return

    def _write(self, handle: Any, data: bytes) -> bool:
        f, ev, pt = self.m["win32file"], self.m["win32event"], self.m["pywintypes"]
        ov = pt.OVERLAPPED()
        ov.hEvent = ev.CreateEvent(None, True, False, None)
        try:
            f.WriteFile(handle, data, ov)
            return bool(f.GetOverlappedResult(handle, ov, True) == len(data))
        except pt.error:
            return False

    def _tend(self) -> None:
        """Send what the hub wants sent and close what it expired, when woken or due."""
        while not self.closing.is_set():
            deadline = self.hub.deadline()
            self.event.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            self.event.clear()
            for key in self.hub.expired(time.monotonic()):
                self._close(key)
            with self.lock:
                conns = list(self.conns.items())
            for key, handle in conns:
                lines = self.hub.outgoing(key)
                if lines is None or not all(self._write(handle, line) for line in lines):
                    self.hub.closed(key)
                    self._close(key)

    def _close(self, key: int) -> None:
        with self.lock:
            handle = self.conns.pop(key, None)
        if handle is not None:
            handle.Close()
