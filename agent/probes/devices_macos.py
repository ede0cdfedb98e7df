"""Camera and microphone in use on macOS (detection.md §3.3).

Camera: the CoreMediaIO property ``kCMIODevicePropertyDeviceIsRunningSomewhere`` of each video
device (no process attribution; virtual cameras ignored). Microphone: on macOS 14.2+ the
CoreAudio process objects (``kAudioProcessPropertyIsRunningInput`` with the bundle id), else
``kAudioDevicePropertyDeviceIsRunningSomewhere`` of input devices, without virtual and
aggregate devices (BlackHole, ZoomAudioDevice, Teams Audio). Decoding is pure and tested with
recorded fixtures; the ``_read_*`` functions need PyObjC and raise ``Unavailable`` without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from agent.probes import Unavailable
from policies import DeviceInUse, ProcessSeen

VIRTUAL_MARKERS = ("virtual", "blackhole", "zoomaudiodevice", "microsoft teams audio", "aggregate")


def _virtual(name: str) -> bool:
    folded = name.casefold()
    return any(marker in folded for marker in VIRTUAL_MARKERS)


def devices_running(devices: Iterable[Mapping[str, Any]]) -> bool:
    """True if a real (not virtual) device reports IsRunningSomewhere."""
    return any(
        d.get("running_somewhere") is True and not _virtual(str(d.get("name", ""))) for d in devices
    )


def processes_running_input(processes: Iterable[Mapping[str, Any]]) -> list[ProcessSeen]:
    """CoreAudio process objects (pid, bundle_id, running_input) that capture audio."""
    return [
        ProcessSeen(bundle_id=p.get("bundle_id") or None, platform="macos")
        for p in processes
        if p.get("running_input") is True
    ]


def _read_video_devices() -> list[dict[str, Any]]:
    try:
        importlib.import_module("AVFoundation")
    except ImportError:
        raise Unavailable("PyObjC (AVFoundation, CoreMediaIO) is not installed") from None
    raise Unavailable("CoreMediaIO reader not built yet")  # pragma: no cover


def _read_audio_processes() -> list[dict[str, Any]]:
    try:
        importlib.import_module("CoreAudio")
    except ImportError:
        raise Unavailable("PyObjC (CoreAudio) is not installed") from None
    raise Unavailable("CoreAudio process-object reader not built yet")  # pragma: no cover


def _read_input_devices() -> list[dict[str, Any]]:
    try:
        importlib.import_module("CoreAudio")
    except ImportError:
        raise Unavailable("PyObjC (CoreAudio) is not installed") from None
    raise Unavailable("CoreAudio device reader not built yet")  # pragma: no cover


def camera_in_use() -> list[DeviceInUse]:
    return [DeviceInUse("camera")] if devices_running(_read_video_devices()) else []


def microphone_in_use() -> list[DeviceInUse]:
    try:
        return [
            DeviceInUse("microphone", h) for h in processes_running_input(_read_audio_processes())
        ]
    except Unavailable:
        return [DeviceInUse("microphone")] if devices_running(_read_input_devices()) else []
