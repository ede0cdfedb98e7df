"""Probes: what the device sees during a lesson, as raw observations that never leave it.

Every probe has a ``name`` (one of ``policies.wire.PROBES``), ``start()`` and ``stop()`` around
a lesson (watchers run only then), and ``sample()`` returning ``policies.observations`` values.
A probe that cannot work here raises ``Unavailable`` (or anything else): ``gather`` turns that
into "unavailable" in the summary's coverage and the lesson goes on without it. Raw values stay
in local variables: logs name the probe and the exception class, never a process, title or path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from policies import Observation
from policies.wire import ProbeState

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """The signal cannot be read on this device (missing API, no permission, Wayland)."""


class Probe(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self) -> Sequence[Observation]: ...


class Off:
    """A probe the policy switches off: reported as "off", never sampled."""

    def __init__(self, name: str):
        self.name = name

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self) -> Sequence[Observation]:
        return ()


def gather(probes: Iterable[Probe]) -> tuple[list[Observation], dict[str, ProbeState]]:
    """One sample from every probe; a failing probe is "unavailable", never an exception."""
    observations: list[Observation] = []
    states: dict[str, ProbeState] = {}
    for probe in probes:
        if isinstance(probe, Off):
            states[probe.name] = "off"
            continue
        try:
            observations.extend(probe.sample())
            states[probe.name] = "ok"
        except Exception as exc:
            states[probe.name] = "unavailable"
            log.debug("probe %s unavailable: %s", probe.name, exc.__class__.__name__)
    return observations, states


def safe_call(what: str, fn: object) -> None:
    """Run a probe's start or stop; a failure is logged by class only and never propagates."""
    try:
        fn()  # type: ignore[operator]
    except Exception as exc:
        log.warning("probe %s failed: %s", what, exc.__class__.__name__)
