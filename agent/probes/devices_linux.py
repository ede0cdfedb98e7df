"""Camera and microphone in use on Linux.

Camera: processes holding a ``/dev/video*`` node open, from the ``/proc/*/fd`` links (never by
opening the device, which can switch its light on). Holders that are the PipeWire camera
daemons stand for "some app through PipeWire": the finding then names no app.
Microphone: capture streams of PulseAudio or PipeWire (``pactl list source-outputs``, which
pipewire-pulse answers too, else ``pw-dump``). The desktop's own streams (gnome-shell, volume
meters) and paused (corked) streams are not recordings.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

from agent.probes import Unavailable
from agent.probes.processes import describe
from policies import DeviceInUse, ProcessSeen

CAMERA_DAEMONS = frozenset(
    {"pipewire", "wireplumber", "xdg-desktop-portal", "xdg-desktop-portal-gnome"}
)
DESKTOP_STREAMS = frozenset({"gnome-shell", "pavucontrol", "pulseaudio", "pipewire", "wireplumber"})
TIMEOUT = 5


def video_holders(proc_root: str = "/proc", dev_root: str = "/dev") -> set[int]:
    """Pids with a ``video*`` device node open. Other users' fds need root; they are skipped."""
    nodes = {os.path.realpath(p) for p in glob.glob(f"{dev_root}/video*")}
    if not nodes:
        return set()
    holders: set[int] = set()
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        fd_dir = f"{proc_root}/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in nodes:
                holders.add(int(entry))
                break
    return holders


def camera_in_use() -> list[DeviceInUse]:
    found: list[DeviceInUse] = []
    for pid in sorted(video_holders()):
        holder = describe(pid, "linux")
        if holder is not None and (holder.name or "") in CAMERA_DAEMONS:
            holder = None
        found.append(DeviceInUse("camera", holder))
    return found


def parse_pactl_source_outputs(text: str) -> list[dict[str, str]]:
    """``pactl list source-outputs`` as one dict per stream: its fields and properties."""
    streams: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    in_props = False
    for raw in text.splitlines():
        line = raw.strip()
        if raw.startswith("Source Output #"):
            current = {"index": raw.split("#", 1)[1].strip()}
            streams.append(current)
            in_props = False
        elif current is None or not line:
            continue
        elif line == "Properties:":
            in_props = True
        elif in_props and " = " in line:
            key, _, value = line.partition(" = ")
            current[key.strip()] = value.strip().strip('"')
        elif ":" in line and not raw.startswith("\t\t"):
            in_props = False
            key, _, value = line.partition(":")
            current.setdefault(key.strip(), value.strip())
    return streams


def parse_pw_dump(data: Any) -> list[dict[str, str]]:
    """Audio capture stream nodes of a ``pw-dump`` graph, as property dicts (with ``state``)."""
    streams: list[dict[str, str]] = []
    for obj in data if isinstance(data, list) else []:
        if not isinstance(obj, dict) or obj.get("type") != "PipeWire:Interface:Node":
            continue
        info = obj.get("info") or {}
        props = info.get("props") or {}
        if props.get("media.class") != "Stream/Input/Audio":
            continue
        entry = {str(k): str(v) for k, v in props.items()}
        entry["state"] = str(info.get("state", ""))
        streams.append(entry)
    return streams


def capturing(streams: Iterable[dict[str, str]]) -> list[ProcessSeen | None]:
    """The apps behind live capture streams (None where a stream names no process)."""
    holders: list[ProcessSeen | None] = []
    for s in streams:
        if s.get("Corked", "no") == "yes" or s.get("state") in ("suspended", "idle", "error"):
            continue
        if s.get("stream.monitor") == "true" or s.get("stream.is-live") == "false":
            continue
        binary = s.get("application.process.binary")
        if binary in DESKTOP_STREAMS:
            continue
        holders.append(ProcessSeen(name=binary, platform="linux") if binary else None)
    return holders


def _run(args: Sequence[str]) -> str:
    try:
        out = subprocess.run(
            list(args), capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"{args[0]} failed: {exc.__class__.__name__}") from None
    if out.returncode != 0:
        raise Unavailable(f"{args[0]} exited with {out.returncode}")
    return out.stdout


def microphone_in_use() -> list[DeviceInUse]:
    if shutil.which("pactl"):
        streams = parse_pactl_source_outputs(_run(["pactl", "list", "source-outputs"]))
    elif shutil.which("pw-dump"):
        try:
            streams = parse_pw_dump(json.loads(_run(["pw-dump"])))
        except ValueError:
            raise Unavailable("pw-dump printed no JSON") from None
    else:
        raise Unavailable("neither PulseAudio nor PipeWire tools are installed")
    return [DeviceInUse("microphone", holder) for holder in capturing(streams)]
