"""Per-device numbers of one lesson: only for roles the school's disclosure allows, only with
a reason, and every view written to the audit log (who, when, which lesson, why).

Devices are shown by their pseudonymous label (or id), sorted by it, never by amount.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.model import Lang
from service import access, audit
from service.actors import Actor
from service.errors import InvalidRequest
from service.lessons import permissions
from service.lessons import records as lessons
from service.models import Device, DeviceLessonSummary, School, User
from service.reports.stored import readable
from service.web.pages.common import minutes

MAX_REASON = 500


def clean_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) < 5:
        raise InvalidRequest("give a reason of at least 5 characters")
    if len(reason) > MAX_REASON:
        raise InvalidRequest("the reason may be at most %(limit)s characters", limit=MAX_REASON)
    if not reason.isprintable():
        raise InvalidRequest("the reason contains control characters")
    return reason


def allowed(session: Session, *, lesson_id: str, viewer: User) -> School:
    actor = Actor.of_user(viewer)
    lesson = lessons.get_lesson(session, lesson_id).lesson
    access.require_lesson(actor, lesson, lesson_id)
    school = session.get_one(School, lesson.school_id)
    access.require_device_level(actor, school)
    return school


def device_view(
    session: Session, *, lesson_id: str, viewer: User, reason: str, now: datetime, lang: Lang
) -> dict[str, Any]:
    school = allowed(session, lesson_id=lesson_id, viewer=viewer)
    lesson = lessons.get_lesson(session, lesson_id).lesson
    length = int((lesson.end - lesson.start).total_seconds())
    reason = clean_reason(reason)
    labels = {c: cat.label(lang) for c, cat in permissions.school_policy(school).categories.items()}
    rows = session.execute(
        select(DeviceLessonSummary.id, Device.id, DeviceLessonSummary.summary, Device.label)
        .join(Device, Device.id == DeviceLessonSummary.device_id)
        .where(DeviceLessonSummary.lesson_id == lesson_id)
    ).all()
    names = {device_id: label or device_id for _, device_id, _, label in rows}
    summaries, _unreadable = readable((r[0], r[1], r[2]) for r in rows)
    per_device: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for device_id, summary in summaries:
        for f in summary.findings:
            seconds = per_device[(names[device_id], device_id)][f.category] + f.seconds
            # Never more than the lesson, however many summaries the device sent.
            per_device[(names[device_id], device_id)][f.category] = min(seconds, length)
    audit.record(
        session,
        actor=Actor.of_user(viewer),
        school_id=school.id,
        action="devices.view",
        obj=f"lesson:{lesson_id}",
        now=now,
        reason=reason,
    )
    return {
        "lesson_id": lesson_id,
        "reason": reason,
        "devices": [
            {
                "device": name,
                "categories": [
                    {"category": c, "label": labels.get(c, c), "minutes": minutes(s)}
                    for c, s in sorted(cats.items())
                    if s
                ],
            }
            for (name, _id), cats in sorted(per_device.items())
        ],
    }
