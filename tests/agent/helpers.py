"""Building config bodies as the collector sends them, for tests of the pure parts."""

from __future__ import annotations

import copy
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
