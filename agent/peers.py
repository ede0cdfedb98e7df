"""Who may report over the helper channel: the user of the active console session, only.

The decisions are pure functions of session facts (``console_uids``, ``accepted``,
``session_accepted``); reading those facts and a socket peer's uid is at the edge
(``read_console_uids``, ``peer_uid``). detection.md §1: logind's session records on Linux, the
owner of ``/dev/console`` on macOS, ``WTSGetActiveConsoleSessionId`` on Windows.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

PLATFORM: str = sys.platform  # a plain str: both branches below are checked on every OS
GRAPHICAL = frozenset({"x11", "wayland", "mir"})
NO_CONSOLE_SESSION = 0xFFFFFFFF  # WTSGetActiveConsoleSessionId while a session (de)attaches
SOL_LOCAL = 0  # macOS <sys/un.h>
LOCAL_PEERCRED = 0x001
XUCRED_SIZE = 76  # struct xucred: u_int version, uid_t uid, short ngroups, gid_t groups[16]


def session_record(text: str) -> dict[str, str]:
    """A logind session file (``/run/systemd/sessions/<id>``) as KEY -> value."""
    record: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper():
            record[key] = value
    return record


def console_uids(sessions: Iterable[Mapping[str, str]]) -> frozenset[int]:
    """Users with an active, local, graphical user session (not the greeter, not ssh)."""
    uids: set[int] = set()
    for s in sessions:
        if (
            s.get("ACTIVE") == "1"
            and s.get("CLASS", "user") == "user"
            and s.get("REMOTE", "0") != "1"
            and (s.get("TYPE") in GRAPHICAL or bool(s.get("SEAT")))
            and s.get("UID", "").isdigit()
        ):
            uids.add(int(s["UID"]))
    return frozenset(uids)


def macos_console_uid(owner: int) -> frozenset[int]:
    """The owner of ``/dev/console``; root owns it at the login window (nobody signed in)."""
    return frozenset() if owner == 0 else frozenset({owner})


def accepted(peer: int | None, console: Collection[int]) -> bool:
    """A helper may report when its uid is known and is a console user's."""
    return peer is not None and peer in console


def session_accepted(client_session: int | None, console_session: int) -> bool:
    """Windows: the pipe client's session is the active console session (not 0, not attaching)."""
    return (
        client_session is not None
        and console_session not in (0, NO_CONSOLE_SESSION)
        and client_session == console_session
    )


def read_console_uids(sessions_dir: Path = Path("/run/systemd/sessions")) -> frozenset[int]:
    """The console users of this machine now (POSIX); empty when it cannot tell."""
    if PLATFORM == "darwin":  # pragma: no cover - needs macOS
        try:
            return macos_console_uid(os.stat("/dev/console").st_uid)
        except OSError:
            return frozenset()
    records = []
    try:
        entries = list(sessions_dir.iterdir())
    except OSError:
        return frozenset()
    for entry in entries:
        if entry.suffix:  # "<id>.ref" FIFOs sit beside the records
            continue
        try:
            records.append(session_record(entry.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    return console_uids(records)


def xucred_uid(raw: bytes) -> int | None:
    """The uid in a macOS ``struct xucred`` (``getsockopt(SOL_LOCAL, LOCAL_PEERCRED)``)."""
    if len(raw) < 8:
        return None
    version, uid = struct.unpack_from("=II", raw)
    return uid if version == 0 else None


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket; None if the OS will not say."""
    try:
        if PLATFORM.startswith("linux"):
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            uid: int = struct.unpack("3i", raw)[1]
            return uid
        if PLATFORM == "darwin":  # pragma: no cover - needs macOS
            return xucred_uid(sock.getsockopt(SOL_LOCAL, LOCAL_PEERCRED, XUCRED_SIZE))
    except OSError:
        return None
    return None
