"""Building config bodies as the collector sends them, for tests of the pure parts."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

from policies import document_digest, effective_document
from policies.wire import format_time

POLICY = effective_document()


def config_body(
    lessons: list[tuple[str, datetime, datetime]] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "device_id": "d_test",
        "group": "3B",
        "audience": "pupil",
        "school": {"name": "Demo", "timezone": "Europe/Amsterdam"},
        "lessons": [
            {
                "id": i,
                "start": format_time(s),
                "end": format_time(e),
                "remote": False,
                "cancelled": False,
            }
            for i, s, e in lessons or []
        ],
        "permissions": [],
        "policy": copy.deepcopy(POLICY),
        "policy_digest": document_digest(POLICY),
        "poll_seconds": {"in_lesson": 60, "idle": 900},
    }
    body.update(extra)
    return body


# A finding of Snipping Tool, filed under the catalog's category as the engine files it.
SNIPPING = {
    "rule": "a1-recording",
    "article": "A.1",
    "category": "screen_recording",
    "family": "snipping_tool",
    "seconds": 61,
    "episodes": 2,
    "first_minute": 5,
    "buckets": [0, 61, 0, 0, 0, 0, 0, 0, 0, 0],
}


def sent_summary(
    number: int,
    findings: list[dict[str, Any]],
    *,
    dropped: int = 0,
    probes: dict[str, str] | None = None,
    gaps: int = 0,
) -> str:
    """A summary of a 50-minute lesson l_1 as the agent sends it: compact JSON, one line."""
    data = {
        "report_id": f"6f1c2a4e-0000-4000-8000-00000000000{number}",
        "lesson_id": "l_1",
        "started_at": "2026-11-24T08:30:00Z",
        "ended_at": "2026-11-24T09:20:00Z",
        "agent_version": "0.1.0",
        "coverage": {
            "seconds_monitored": 3000,
            "samples": 200,
            "gaps": gaps,
            "probes": probes or {"processes": "ok", "camera": "unavailable"},
        },
        "findings": findings,
        "dropped": dropped,
    }
    return json.dumps(data, separators=(",", ":"))
