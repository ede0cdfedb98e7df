"""The helper's end of the channel on Windows: a client of the service's named pipe.

pywin32 is imported here only, and only on Windows. The pipe's server must run in session 0
(a service); a pipe of the same name created by a user process is refused. Overlapped reads
give ``recv`` its timeout. Not run on the Linux development machines (docs/deploy.md).
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any

from agent.probes import Unavailable

INFINITE = 0xFFFFFFFF
WAIT_TIMEOUT = 0x102


def _mods() -> tuple[Any, Any, Any, Any]:
    try:
        names = ("win32file", "win32pipe", "win32event", "pywintypes")
        return tuple(importlib.import_module(n) for n in names)  # type: ignore[return-value]
    except ImportError:
        raise Unavailable("pywin32 is not installed") from None


def server_session(handle: int) -> int | None:  # pragma: no cover - needs Windows
    """The session of the process serving the pipe (``GetNamedPipeServerProcessId``)."""
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    pid, session = ctypes.c_ulong(), ctypes.c_ulong()
    if not kernel32.GetNamedPipeServerProcessId(int(handle), ctypes.byref(pid)):
        return None
    if not kernel32.ProcessIdToSessionId(pid.value, ctypes.byref(session)):
        return None
    return session.value


class PipeLink:  # pragma: no cover - needs Windows
    def __init__(self, name: str):
        self.win32file, _pipe, self.win32event, self.pywintypes = _mods()
        f = self.win32file
        try:
            self.handle = f.CreateFile(
                name, f.GENERIC_READ | f.GENERIC_WRITE, 0, None, f.OPEN_EXISTING,
                f.FILE_FLAG_OVERLAPPED, None,
            )  # fmt: skip
        except self.pywintypes.error as exc:
            raise OSError(str(exc.winerror)) from None
        if server_session(self.handle) != 0:
            self.handle.Close()
            raise OSError("the pipe is not served by a service in session 0")
        self.read_ov = self.pywintypes.OVERLAPPED()
        self.read_ov.hEvent = self.win32event.CreateEvent(None, True, False, None)
        self.write_ov = self.pywintypes.OVERLAPPED()
        self.write_ov.hEvent = self.win32event.CreateEvent(None, True, False, None)

    def send(self, data: bytes) -> None:
        try:
            self.win32file.WriteFile(self.handle, data, self.write_ov)
            self.win32file.GetOverlappedResult(self.handle, self.write_ov, True)
        except self.pywintypes.error as exc:
            raise OSError(str(exc.winerror)) from None

    def recv(self, timeout: float | None) -> bytes | None:
        f, ev = self.win32file, self.win32event
        buf = f.AllocateReadBuffer(8192)
        try:
            f.ReadFile(self.handle, buf, self.read_ov)
            wait = INFINITE if timeout is None else int(timeout * 1000)
            if ev.WaitForSingleObject(self.read_ov.hEvent, wait) == WAIT_TIMEOUT:
                f.CancelIo(self.handle)
                try:
                    n = f.GetOverlappedResult(self.handle, self.read_ov, True)
                except self.pywintypes.error:
                    return None  # cancelled: the timeout passed with nothing read
                return bytes(buf[:n])
            n = f.GetOverlappedResult(self.handle, self.read_ov, True)
            return bytes(buf[:n])
        except self.pywintypes.error as exc:
            if exc.winerror in (109, 232):  # ERROR_BROKEN_PIPE, ERROR_NO_DATA: server closed
                return b""
            raise OSError(str(exc.winerror)) from None

    def close(self) -> None:
        self.handle.Close()
