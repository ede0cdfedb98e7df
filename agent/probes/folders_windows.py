"""Capture folders on Windows: known folders, which may be redirected or under OneDrive.

``SHGetKnownFolderPath`` gives the real location; ``USERPROFILE`` defaults are the fallback
when the shell API is missing (a service without a user profile loaded).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

FOLDERID_SCREENSHOTS = "{B7BEDE81-DF94-4682-A7D8-57A52620B86F}"
FOLDERID_VIDEOS = "{18989B1D-99B5-455B-841C-AB7C74E4DDFC}"
FOLDERID_APP_CAPTURES = "{EDC0FE71-98D8-4F4A-B920-C8DC133CB165}"
FOLDERID_CAMERA_ROLL = "{AB5FB87B-7CE2-4F83-915D-550846C9537B}"
FOLDERID_DOCUMENTS = "{FDD39AD0-238F-46AF-ADB4-6C85480369C7}"
KF_FLAG_DONT_VERIFY = 0x00004000


def known_folder(guid: str) -> Path | None:  # pragma: no cover - needs Windows
    import ctypes
    import uuid
    from ctypes import wintypes

    class GUID(ctypes.Structure):
        _fields_ = [
            ("Data1", wintypes.DWORD),
            ("Data2", wintypes.WORD),
            ("Data3", wintypes.WORD),
            ("Data4", wintypes.BYTE * 8),
        ]

    u = uuid.UUID(guid)
    g = GUID(u.time_low, u.time_mid, u.time_hi_version, (wintypes.BYTE * 8)(*u.bytes[8:]))
    out = ctypes.c_wchar_p()
    shell32 = ctypes.windll.shell32  # type: ignore[attr-defined]
    if shell32.SHGetKnownFolderPath(ctypes.byref(g), KF_FLAG_DONT_VERIFY, None, ctypes.byref(out)):
        return None
    try:
        return Path(out.value) if out.value else None
    finally:
        ctypes.windll.ole32.CoTaskMemFree(out)  # type: ignore[attr-defined]


def capture_folders(home: Path, environ: Mapping[str, str]) -> list[Path]:
    profile = Path(environ.get("USERPROFILE") or home)

    def resolve(guid: str, default: Path) -> Path:
        try:
            return known_folder(guid) or default
        except (OSError, AttributeError, ImportError):
            return default

    videos = resolve(FOLDERID_VIDEOS, profile / "Videos")
    return [
        resolve(FOLDERID_SCREENSHOTS, profile / "Pictures" / "Screenshots"),
        videos / "Screen Recordings",  # Snipping Tool recordings
        resolve(FOLDERID_APP_CAPTURES, videos / "Captures"),  # Xbox Game Bar
        resolve(FOLDERID_CAMERA_ROLL, profile / "Pictures" / "Camera Roll"),
        resolve(FOLDERID_DOCUMENTS, profile / "Documents") / "Sound Recordings",
    ]
