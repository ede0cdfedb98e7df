"""Camera and microphone in use on Windows (detection.md §3.1-3.2).

Preferred: the per-process APIs, ``IMFSensorActivityMonitor`` for the camera and Core Audio
capture sessions for the microphone. Both are COM interfaces that need a native helper in the
user's session; until that helper exists their readers raise ``Unavailable`` and the
CapabilityAccessManager ConsentStore in the registry is used: an app whose
``LastUsedTimeStop`` is 0 holds the device. The decoding of what each source returns is pure
and tested with recorded fixtures; only the ``_read_*`` functions touch the OS.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from agent.probes import Unavailable
from policies import DeviceInUse, ProcessSeen

CONSENT_STORE = r"Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager\ConsentStore"
CAPABILITY = {"camera": "webcam", "microphone": "microphone"}
AUDIO_SESSION_ACTIVE = 1  # AudioSessionState.AudioSessionStateActive


def holder_from_consent_key(name: str, packaged: bool) -> ProcessSeen:
    """A ConsentStore subkey as a process: a package family name, or a ``#``-separated exe path."""
    if packaged:
        return ProcessSeen(store_package=name, platform="windows")
    return ProcessSeen(exe=name.replace("#", "\\"), platform="windows")


def consent_store_in_use(
    entries: Mapping[str, Mapping[str, int]], nonpackaged: Mapping[str, Mapping[str, int]]
) -> list[ProcessSeen]:
    """Apps holding the device per ConsentStore: ``LastUsedTimeStart`` set, ``...Stop`` zero."""
    holders: list[ProcessSeen] = []
    for packaged, table in ((True, entries), (False, nonpackaged)):
        for name, values in sorted(table.items()):
            start, stop = values.get("LastUsedTimeStart", 0), values.get("LastUsedTimeStop", 0)
            if start > 0 and stop == 0:
                holders.append(holder_from_consent_key(name, packaged))
    return holders


def sensor_activity_in_use(reports: Iterable[Mapping[str, Any]]) -> list[ProcessSeen]:
    """``IMFSensorProcessActivity`` records (pid, exe, streaming) as the processes streaming."""
    return [
        ProcessSeen(exe=r.get("exe"), platform="windows")
        for r in reports
        if r.get("streaming") is True
    ]


def audio_sessions_in_use(sessions: Iterable[Mapping[str, Any]]) -> list[ProcessSeen]:
    """Capture-endpoint sessions (pid, exe, state) in the Active state; pid 0 is the system."""
    return [
        ProcessSeen(exe=s.get("exe"), platform="windows")
        for s in sessions
        if s.get("state") == AUDIO_SESSION_ACTIVE and s.get("pid")
    ]


def _read_consent_store(
    capability: str,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    try:
        winreg: Any = importlib.import_module("winreg")
    except ImportError:
        raise Unavailable("no Windows registry here") from None

    def values(key: Any) -> dict[str, int]:
        found: dict[str, int] = {}
        for name in ("LastUsedTimeStart", "LastUsedTimeStop"):
            with contextlib.suppress(OSError):
                found[name] = int(winreg.QueryValueEx(key, name)[0])
        return found

    def subkeys(path: str) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path) as key:
                i = 0
                while True:
                    try:
                        name = winreg.EnumKey(key, i)
                    except OSError:
                        break
                    i += 1
                    if name == "NonPackaged":
                        continue
                    with winreg.OpenKey(key, name) as sub:
                        table[name] = values(sub)
        except OSError:
            pass
        return table

    base = f"{CONSENT_STORE}\\{capability}"
    return subkeys(base), subkeys(base + "\\NonPackaged")


def _read_sensor_activity() -> list[dict[str, Any]]:
    raise Unavailable("IMFSensorActivityMonitor needs the native helper (not built yet)")


def _read_audio_sessions() -> list[dict[str, Any]]:
    raise Unavailable("Core Audio capture sessions need the native helper (not built yet)")


def _in_use(device: str, primary: Any, decode: Any) -> list[DeviceInUse]:
    try:
        holders = decode(primary())
    except Unavailable:
        holders = consent_store_in_use(*_read_consent_store(CAPABILITY[device]))
    return [DeviceInUse(device, h) for h in holders]  # type: ignore[arg-type]


def camera_in_use() -> list[DeviceInUse]:
    return _in_use("camera", _read_sensor_activity, sensor_activity_in_use)


def microphone_in_use() -> list[DeviceInUse]:
    return _in_use("microphone", _read_audio_sessions, audio_sessions_in_use)
