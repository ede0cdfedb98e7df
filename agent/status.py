"""What the agent is doing, for ``lessonwatch-agent status``: written by ``run``, read by the CLI.

The running agent rewrites a small JSON file whenever its state changes (lesson start and end,
checkpoints, uploads). ``status`` combines it with the cached config and the outbox, so it works
whether or not the agent is running, and says which.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.runner import Agent


def write_status(agent: Agent) -> None:
    lesson = agent.active
    data = {
        "pid": os.getpid(),
        "updated_at": datetime.now(UTC).isoformat(),
        "monitoring": None
        if lesson is None
        else {
            "lesson_id": lesson.id,
            "start": lesson.start.isoformat(),
            "end": lesson.end.isoformat(),
        },
        "probes": dict(agent.probe_states),
        # The values this process runs with (the policy's, or the command line's overrides):
        # ``explain`` shows these, not the policy's defaults.
        "settings": None
        if agent.config is None
        else {
            name: getattr(agent.config.compiled.policy.settings, name)
            for name in ("sample_seconds", "grace_seconds", "upload_delay_max_seconds")
        },
        "helper": None
        if agent.hub is None
        else ("connected" if agent.hub.helper is not None else "not connected"),
        # Paired mode: how many browser extensions' native hosts are connected now, and how
        # many of their messages named no app of the running policy.
        "browser": None
        if agent.hub is None
        else {
            "connected": agent.hub.browsers(agent.clock.monotonic()).connected,
            "dropped": agent.hub.browser_dropped,
        },
        "clock_offset_seconds": agent.offset.total_seconds(),
        "upload": {
            "sent": agent.uploader.sent,
            "last_error": agent.uploader.last_error,
            "token_refused": agent.uploader.unauthorized,
        },
    }
    tmp = agent.paths.status.with_name(agent.paths.status.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, agent.paths.status)
    except OSError:
        pass


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def process_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        import psutil

        return bool(psutil.pid_exists(pid))
    except ImportError:  # pragma: no cover
        return False
