"""One sample: gather from every probe, let the engine decide, keep only findings.

``sample`` is the only place raw observations exist: they are local to it and gone when it
returns. What leaves is a list of ``policies.Finding`` (catalog matches) and the probe states.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from agent.probes import Off, Probe, gather
from policies import Compiled, Finding, LessonContext, Permission, evaluate
from policies.wire import ProbeState


def build_probes(
    compiled: Compiled, home: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[Probe]:
    """The probes the policy asks for; the window probe only when the policy turns it on."""
    from agent.probes.capture import CaptureProbe
    from agent.probes.devices import CameraProbe, MicrophoneProbe
    from agent.probes.folders import capture_folders
    from agent.probes.processes import ProcessProbe
    from agent.probes.window import WindowProbe

    env = os.environ if environ is None else environ
    folders = capture_folders(home or Path.home(), env)
    window: Probe = (
        WindowProbe() if compiled.policy.settings.window_title_probe else Off("window_title")
    )
    return [
        ProcessProbe(),
        CaptureProbe(folders, compiled.policy.capture_extensions),
        CameraProbe(),
        MicrophoneProbe(),
        window,
    ]


def sample(
    probes: Sequence[Probe],
    compiled: Compiled,
    lesson: LessonContext,
    permissions: Sequence[Permission],
    now: datetime,
) -> tuple[list[Finding], dict[str, ProbeState]]:
    observations, states = gather(probes)
    return evaluate(compiled, observations, lesson, permissions, now=now), states
