"""APScheduler imported without asyncio, multiprocessing and importlib.metadata.

APScheduler 3.11 imports both, whichever of its parts a program uses: ``apscheduler.util`` imports
asyncio (about 1.5 MiB resident, with ``ssl``'s share apart) for ``iscoroutinefunction`` on
Python < 3.14, and every scheduler imports ``apscheduler.executors.pool``, which imports
``multiprocessing`` and ``concurrent.futures.process`` (about 0.9 MiB with ``pickle``) for a
process pool. The agent runs its jobs on threads of its own (``agent.executor``) and has no
coroutines, so while APScheduler's modules are imported those names resolve to small
stand-ins, and afterwards to the real modules again: any other ``import asyncio`` in the
process gets asyncio. Each stand-in hands every name it does not define to the real module,
imported at that moment (docs/performance.md, "Agent"). The one difference: APScheduler's
process-pool executor, which the agent does not have, would not recognise a broken pool, as it
took ``BrokenProcessPool`` from the stand-in.

``importlib.metadata`` (about 2.5 MiB resident: it imports the email package, zipfile and csv,
and reads every installed package's entry points) is asked two things at import: APScheduler's
own version, which the stand-in reads from the name of its ``.dist-info`` folder, and the tables
of plugins by name ("date", "interval", "threadpool", "memory"), which it leaves empty: the agent
hands APScheduler trigger, executor and job-store objects, never names (``agent.timers``), and a
name would fail loudly with APScheduler's own ``LookupError``, not silently (tested). Until the
agent's process stopped importing requests (``agent.remote``), http.client loaded the email
package anyway and this saved little.

For ``lessonwatch-agent run`` only: it changes what ``import`` does while it runs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

# What the agent's process imports of APScheduler (agent.runner, agent.executor).
SCHEDULER_MODULES = (
    "apscheduler.schedulers.background",
    "apscheduler.triggers.date",
    "apscheduler.triggers.interval",
    "apscheduler.executors.base",
)
# Modules APScheduler imports for what the agent does not use; loaded only if a name the
# stand-in lends is asked for (nothing in the agent asks).
LEFT_OUT = ("asyncio", "multiprocessing", "concurrent.futures.process", "importlib.metadata")


def _iscoroutinefunction(func: object) -> bool:
    """``asyncio.iscoroutinefunction``, importing asyncio only if something asks (APScheduler
    asks only in its asyncio and Tornado executors, which import asyncio anyway)."""
    import asyncio

    return asyncio.iscoroutinefunction(func)


class BrokenProcessPool(RuntimeError):
    """Stands in for ``concurrent.futures.process.BrokenProcessPool``, which
    ``apscheduler.executors.pool`` names only in its process-pool executor."""


class PackageNotFoundError(ModuleNotFoundError):
    """Stands in for ``importlib.metadata.PackageNotFoundError``."""


def _version(name: str) -> str:
    """A distribution's version from its ``<name>-<version>.dist-info`` folder on ``sys.path``,
    as importlib.metadata finds it (names compared in their normalised form)."""
    wanted = name.lower().replace("-", "_")
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            stem, dot, suffix = folder.rpartition(".")
            if dot and suffix == "dist-info" and "-" in stem:
                found, version = stem.split("-", 1)
                if found.lower().replace("-", "_").replace(".", "_") == wanted:
                    return version
    raise PackageNotFoundError(name)


def _no_plugins(**selection: str) -> tuple[()]:
    """No entry points: the agent names no plugin (see the module's docstring)."""
    del selection
    return ()


def standin(real: str, defined: dict[str, Any]) -> ModuleType:
    """A module named ``real`` holding ``defined``; other names come from the real module."""
    module = ModuleType(real, f"Stand-in for {real} while APScheduler is imported.")

    def __getattr__(name: str) -> Any:
        # PEP 562: a name the stand-in lacks comes from the real module, imported now. While
        # the stand-in is in the module table that would be itself: then the name is missing.
        if sys.modules.get(real) is module:
            raise AttributeError(f"{name}: not in the stand-in for {real} (agent.standins)")
        return getattr(importlib.import_module(real), name)

    module.__dict__.update(defined, __getattr__=__getattr__)
    return module


STANDINS: dict[str, Callable[[], ModuleType]] = {
    "asyncio": lambda: standin("asyncio", {"iscoroutinefunction": _iscoroutinefunction}),
    "multiprocessing": lambda: standin("multiprocessing", {}),
    "concurrent.futures.process": lambda: standin(
        "concurrent.futures.process", {"BrokenProcessPool": BrokenProcessPool}
    ),
    "importlib.metadata": lambda: standin(
        "importlib.metadata",
        {
            "version": _version,
            "entry_points": _no_plugins,
            "PackageNotFoundError": PackageNotFoundError,
        },
    ),
}


@contextmanager
def standing_in(modules: MutableMapping[str, Any] | None = None) -> Iterator[list[str]]:
    """Within the block, the ``LEFT_OUT`` modules not loaded yet import as stand-ins; yields
    their names. Afterwards they are gone from the module table, so the real ones import."""
    table: MutableMapping[str, Any] = sys.modules if modules is None else modules
    placed = {name: STANDINS[name]() for name in LEFT_OUT if name not in table}
    table.update(placed)
    try:
        yield list(placed)
    finally:
        for name, standin in placed.items():
            if table.get(name) is standin:
                del table[name]


def import_scheduler() -> list[str]:
    """Import what the agent uses of APScheduler without what it does not; returns the modules
    left out (none if APScheduler or they were loaded already). Call before ``agent.runner``
    is imported, in the agent's own process only."""
    if any(name in sys.modules for name in SCHEDULER_MODULES):
        return []
    with standing_in() as placed:
        for name in SCHEDULER_MODULES:
            importlib.import_module(name)
    return placed
