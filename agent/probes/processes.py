"""Running processes: name and executable (and Flatpak/snap ids on Linux), via psutil.

On Linux a sample costs little more than reading ``/proc/<pid>/comm`` for every process: full
details (psutil ``name()`` with its cmdline fix for 15-character ``comm`` truncation, ``exe()``,
the cgroup) are read once per process and reused while the pid keeps the same ``comm``.
Elsewhere ``psutil.process_iter`` does the caching. ``/proc`` is where psutil's documented
``PROCFS_PATH`` setting says it is (another path for a container's processes; the tests give
each test a PID namespace of its own that way).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

from policies import ProcessSeen
from policies.model import Platform

INTERPRETERS = frozenset({"gjs", "gjs-console", "python3", "python", "perl"})
_FLATPAK = re.compile(r"app-flatpak-([A-Za-z0-9_.-]+?)-\d+\.scope")
_SNAP_SCOPE = re.compile(r"snap\.([a-z0-9][a-z0-9-]*)\.[^/\s]+\.scope")
_SNAP_EXE = re.compile(r"^/snap/([a-z0-9][a-z0-9-]*)/")


def flatpak_id(cgroup: str) -> str | None:
    """The Flatpak app id from /proc/PID/cgroup (``app-flatpak-<APPID>-<n>.scope``)."""
    match = _FLATPAK.search(cgroup)
    return match.group(1) if match else None


def snap_name(cgroup: str, exe: str | None) -> str | None:
    """The snap name from the cgroup (``snap.<name>.<app>...scope``) or a ``/snap/<name>/`` exe."""
    match = _SNAP_SCOPE.search(cgroup)
    if match:
        return match.group(1)
    match = _SNAP_EXE.match(exe or "")
    return match.group(1) if match else None


@functools.lru_cache(maxsize=1024)
def bundle_id_of(exe: str) -> str | None:
    """macOS: the ``CFBundleIdentifier`` of the outermost ``.app`` around an executable.

    iPhone and iPad apps on Apple-silicon Macs are known to the catalog only by bundle id, and a
    service sees executables, not ``NSRunningApplication`` (detection.md §6).
    """
    import plistlib  # macOS only: elsewhere pyexpat and the XML parser stay unloaded

    parts = Path(exe).parts
    for i, part in enumerate(parts):
        if part.endswith(".app"):
            try:
                with open(Path(*parts[: i + 1]) / "Contents" / "Info.plist", "rb") as fh:
                    value = plistlib.load(fh).get("CFBundleIdentifier")
            except (OSError, ValueError, plistlib.InvalidFileException):
                return None
            return value if isinstance(value, str) else None
    return None


def current_platform() -> Platform:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def script_name(cmdline: Sequence[str]) -> str | None:
    """The script an interpreter runs: the first argument that is not an option."""
    for arg in cmdline[1:]:
        if arg and not arg.startswith("-"):
            return os.path.basename(arg.rstrip("/")) or None
    return None


def describe(pid: int, platform: Platform, proc_root: str = "/proc") -> ProcessSeen | None:
    """Everything the catalog can match for one process; None if it is gone."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = proc.name()
            try:
                exe = proc.exe() or None
            except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
                exe = None
            if name in INTERPRETERS:
                # Kazam runs as "python3 /usr/bin/kazam", GNOME's screencast service as "gjs
                # .../org.gnome.Shell.Screencast": the script is the app (detection.md §2.2, §4).
                with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess, OSError):
                    name = script_name(proc.cmdline()) or name
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None
    flatpak = snap = None
    if platform == "linux":
        try:
            cgroup = Path(f"{proc_root}/{pid}/cgroup").read_text()
        except OSError:
            cgroup = ""
        flatpak, snap = flatpak_id(cgroup), snap_name(cgroup, exe)
    return ProcessSeen(name=name, exe=exe, flatpak_id=flatpak, snap_name=snap, platform=platform)


class ProcessProbe:
    name = "processes"

    def __init__(self) -> None:
        self.platform = current_platform()
        self._known: dict[int, tuple[bytes, ProcessSeen]] = {}

    def start(self) -> None:
        self._known.clear()

    def stop(self) -> None:
        self._known.clear()

    def sample(self) -> Sequence[ProcessSeen]:
        if self.platform == "linux":
            return self._sample_linux()
        seen: set[ProcessSeen] = set()
        for p in psutil.process_iter(["name", "exe"], ad_value=None):
            exe = p.info["exe"]
            bundle = bundle_id_of(exe) if self.platform == "macos" and exe else None
            seen.add(
                ProcessSeen(name=p.info["name"], exe=exe, bundle_id=bundle, platform=self.platform)
            )
        return list(seen)

    def _sample_linux(self) -> list[ProcessSeen]:
        seen: dict[int, tuple[bytes, ProcessSeen]] = {}
        root = psutil.PROCFS_PATH  # psutil.Process reads the same /proc in ``describe``
        for entry in os.listdir(root):
            if not entry.isdigit():
                continue
            try:
                with open(f"{root}/{entry}/comm", "rb") as fh:
                    comm = fh.read()
            except OSError:
                continue
            pid = int(entry)
            known = self._known.get(pid)
            if known is not None and known[0] == comm:
                seen[pid] = known
                continue
            described = describe(pid, self.platform, root)
            if described is not None:
                seen[pid] = (comm, described)
        self._known = seen
        return list({info for _, info in seen.values()})
