"""The foreground-window probe: off unless the policy's ``window_title_probe`` is on."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from agent.probes import Unavailable
from policies import WindowSeen


class WindowProbe:
    name = "window_title"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self) -> Sequence[WindowSeen]:
        if sys.platform.startswith("linux"):
            from agent.probes import window_linux

            seen = window_linux.foreground_window(os.environ)
            return [seen] if seen else []
        # Windows (GetForegroundWindow) and macOS (Accessibility) readers are not built yet.
        raise Unavailable(f"no foreground-window reader for {sys.platform}")
