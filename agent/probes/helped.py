"""The service's probes with the per-user helper's reports folded in.

Where the service cannot see the user's desktop (Windows, macOS: ``required``), the window
title and the user's capture folders come from the helper only, and without a helper that
answers they are "unavailable" in the coverage, so a pupil who kills the helper shows up at
the collector. Elsewhere (Linux) the service keeps its own probes and the helper is an extra
source while it answers.

Capture files are taken from one source per sample, never both: the helper's when it reports
a running watcher, else the service's own; the one not used is drained, so a screenshot seen
by both is counted once.

The browser extension (paired mode) is one more source, with this precedence
(``browser_precedence``; docs/agent.md, "Paired mode"):

1. A tab the extension reports counts like a foreground app of that family: the processes
   probe adds it. The same family seen by several sources in one sample (the extension, a
   window title, an installed app) is one finding, as the summary keeps one per rule and
   family, so nothing is counted twice.
2. While an extension reports (a focus within ``hub.TAB_FRESH``), browser window titles are not
   used: the extension reads the committed host of the tab, a title is a guess about it (a
   news page titled "Instagram down" is not Instagram), and a title and the tab of one window
   must not make two findings. Titles of other windows count as before (the engine counts
   titles of browser windows only, so in practice the title probe rests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Literal

from agent.channel import State
from agent.hub import Hub, Status
from agent.probes import Off, Probe, Unavailable
from agent.probes.processes import current_platform
from agent.probes.window import is_browser
from policies import CaptureFileSeen, Observation, TabSeen, WindowSeen

Source = Literal["helper", "own", "unavailable"]
Clock = Callable[[], float]


def source(status: Status, helper_state: State, required: bool) -> Source:
    """Which source a helped probe reads in this sample."""
    if status == "fresh" and helper_state == "ok":
        return "helper"
    if not required:
        return "own"
    if status == "pending":
        return "helper"  # just told to monitor; its first sample is on the way
    return "unavailable"


def required_by_default() -> bool:
    """A Windows service (session 0) and a macOS LaunchDaemon cannot see the user's desktop."""
    return sys.platform in ("win32", "darwin")


def browser_precedence(
    seen: Sequence[Observation], tabs: Sequence[TabSeen], reporting: bool
) -> list[Observation]:
    """One sample's observations with the extension's tabs added and, while an extension
    reports, browser window titles left out (rule 2 above)."""
    kept = [x for x in seen if not (reporting and isinstance(x, WindowSeen) and x.browser)]
    return [*kept, *tabs]


class _Helped:
    """A service probe with the hub beside it; start and stop are the service probe's."""

    name: str

    def __init__(self, own: Probe, hub: Hub, required: bool, clock: Clock):
        self.own, self.hub, self.required, self.clock = own, hub, required, clock

    def start(self) -> None:
        self.own.start()

    def stop(self) -> None:
        self.own.stop()


class HelpedProcesses(_Helped):
    name = "processes"

    def sample(self) -> Sequence[Observation]:
        seen = list(self.own.sample())
        now = self.clock()
        report = self.hub.view(now).app
        if report is not None and report.app is not None:
            seen.append(dataclasses.replace(report.app, platform=current_platform()))
        browsers = self.hub.browsers(now)
        return browser_precedence(seen, browsers.tabs, browsers.reporting)


class HelpedCapture(_Helped):
    name = "capture_files"

    def sample(self) -> Sequence[Observation]:
        status, state, kinds = self.hub.take_captures(self.clock())
        chosen = source(status, state, self.required)
        if chosen == "own":
            return self.own.sample()
        # Drained: what the service's own watcher saw is the helper's to report. That watcher
        # may not work here at all (no folder, no permission); the helper's does.
        with contextlib.suppress(Exception):
            self.own.sample()
        if chosen == "unavailable":
            raise Unavailable("no per-user helper reports the capture folders")
        return [CaptureFileSeen(f"new{ext}") for ext in kinds]


class HelpedWindow(_Helped):
    name = "window_title"

    def sample(self) -> Sequence[Observation]:
        now = self.clock()
        browsers = self.hub.browsers(now)
        return browser_precedence(self._titles(now), (), browsers.reporting)

    def _titles(self, now: float) -> Sequence[Observation]:
        view = self.hub.view(now)
        report = view.app
        chosen = source(view.status, report.title_state if report else "unavailable", self.required)
        if chosen == "own":
            return self.own.sample()
        if chosen == "unavailable":
            raise Unavailable("no per-user helper reports the foreground window")
        if report is None or report.title is None:
            return []
        return [
            WindowSeen(report.title, browser=is_browser(report.app), platform=current_platform())
        ]


def with_helper(
    probes: Sequence[Probe], hub: Hub, required: bool, clock: Clock = time.monotonic
) -> list[Probe]:
    """The same probes, those the helper can serve wrapped; an "off" probe stays off."""
    out: list[Probe] = []
    for probe in probes:
        if isinstance(probe, Off):
            out.append(probe)
        elif probe.name == "processes":
            out.append(HelpedProcesses(probe, hub, required, clock))
        elif probe.name == "capture_files":
            out.append(HelpedCapture(probe, hub, required, clock))
        elif probe.name == "window_title":
            out.append(HelpedWindow(probe, hub, required, clock))
        else:
            out.append(probe)
    return out
