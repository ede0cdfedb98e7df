"""What a device fetches: its group's lessons, the effective policy and the permissions.

The ETag is a hash of the whole body, which holds nothing volatile (no "generated at"), so
two collector processes answer the same ETag for the same data and a poll that finds nothing
new costs a 304 and no body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.wire import format_time
from service.lessons import records as lessons
from service.models import Device, Group, Lesson, School
from service.schools import policy as policy_cache
from service.settings import Settings
from service.timetable_store import holidays


@dataclass(frozen=True)
class AgentConfig:
    body: dict[str, Any]
    etag: str


def etag_of(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison over a comma-separated If-None-Match list (or ``*``)."""
    if not if_none_match:
        return False
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


def build_config(
    session: Session, *, device: Device, settings: Settings, now: datetime
) -> AgentConfig:
    school = session.get_one(School, device.school_id)
    group = session.get_one(Group, device.group_id)
    policy = policy_cache.for_school(school)
    query = (
        select(Lesson)
        .where(
            Lesson.group_id == device.group_id,
            Lesson.end > now - timedelta(hours=settings.config_past_hours),
            Lesson.start < now + timedelta(days=settings.config_ahead_days),
        )
        .order_by(Lesson.start, Lesson.id)
    )
    rows = list(session.scalars(query))
    off = holidays.in_holiday(session, school, rows)  # not monitored in a school holiday
    body = {
        "device_id": device.id,
        "group": group.name,
        "audience": "pupil",
        "school": {"name": school.name, "timezone": school.timezone},
        "lessons": [
            {
                "id": lesson.id,
                "start": format_time(lesson.start),
                "end": format_time(lesson.end),
                "remote": lesson.remote,
                "cancelled": lesson.cancelled or lesson.id in off,
            }
            for lesson in rows
        ],
        "permissions": [
            lessons.permission_json(p)
            for p in lessons.permissions_for(session, [lesson.id for lesson in rows])
        ],
        "policy": policy.document,
        "policy_digest": policy.digest,
        "poll_seconds": {
            "in_lesson": settings.poll_in_lesson_seconds,
            "idle": settings.poll_idle_seconds,
        },
    }
    return AgentConfig(body=body, etag=etag_of(body))
