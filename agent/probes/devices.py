"""Camera and microphone probes: one module per OS with the same functions, imported lazily."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType

from policies import DeviceInUse


def _impl() -> ModuleType:
    if sys.platform == "win32":
        from agent.probes import devices_windows as impl
    elif sys.platform == "darwin":
        from agent.probes import devices_macos as impl
    else:
        from agent.probes import devices_linux as impl
    return impl


class CameraProbe:
    name = "camera"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self) -> Sequence[DeviceInUse]:
        return list(_impl().camera_in_use())


class MicrophoneProbe:
    name = "microphone"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self) -> Sequence[DeviceInUse]:
        return list(_impl().microphone_in_use())
