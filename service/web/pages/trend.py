"""A group's trend over recent weeks: per week the lessons, how many reported, and the device
lessons with a finding and their minutes; aggregate numbers only, suppressed like a report."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import schools
from service.models import DeviceLessonSummary, Lesson, LessonAggregate, School
from service.web.pages.common import Translate, minutes

WEEKS = 6


def lesson_numbers(session: Session, rows: list[Lesson]) -> dict[str, dict[str, Any]]:
    """Per lesson what the trend needs, for all its lessons in two queries: the purge's frozen
    numbers where they exist, else counted from the stored summaries. Those passed
    ``parse_summary`` when they were ingested, so they are read here as plain JSON instead of
    being validated again (the report page used to do that for ~180 lessons per view)."""
    ids = [row.id for row in rows]
    out: dict[str, dict[str, Any]] = {
        aggregate.lesson_id: aggregate.data
        for aggregate in session.scalars(
            select(LessonAggregate).where(LessonAggregate.lesson_id.in_(ids))
        )
    }
    live = [i for i in ids if i not in out]
    reporting: dict[str, set[str]] = defaultdict(set)
    cat_devices: dict[tuple[str, str], set[str]] = defaultdict(set)
    cat_seconds: dict[tuple[str, str], int] = defaultdict(int)
    if live:
        summaries = session.execute(
            select(
                DeviceLessonSummary.lesson_id,
                DeviceLessonSummary.device_id,
                DeviceLessonSummary.summary,
            ).where(DeviceLessonSummary.lesson_id.in_(live))
        )
        for lesson_id, device, data in summaries:
            reporting[lesson_id].add(device)
            for finding in data["findings"]:
                if finding["seconds"]:  # as report_numbers: a zero finding counts no device
                    cat_devices[(lesson_id, finding["category"])].add(device)
                    cat_seconds[(lesson_id, finding["category"])] += finding["seconds"]
    for lesson_id in live:
        categories = sorted(c for (lid, c) in cat_devices if lid == lesson_id)
        out[lesson_id] = {
            "devices_reporting": len(reporting[lesson_id]),
            "categories": [
                {
                    "category": c,
                    "devices": len(cat_devices[(lesson_id, c)]),
                    "seconds": cat_seconds[(lesson_id, c)],
                }
                for c in categories
            ],
        }
    return out


def week_row(numbers: list[dict[str, Any]]) -> dict[str, int]:
    """One week's aggregate: a device counts once per lesson in which it had any finding."""
    with_finding = 0
    seconds = 0
    for n in numbers:
        counted = [c for c in n["categories"] if c["devices"]]
        with_finding += max((c["devices"] for c in counted), default=0)
        seconds += sum(c["seconds"] for c in counted)
    return {
        "lessons": len(numbers),
        "lessons_reported": sum(1 for n in numbers if n["devices_reporting"]),
        "device_lessons_with_findings": with_finding,
        "minutes": minutes(seconds),
    }


def group_trend(
    session: Session, *, lesson: Lesson, school: School, now: datetime, t: Translate
) -> list[dict[str, Any]]:
    tz = schools.check_timezone(school.timezone)
    local = lesson.start.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0)
    first = monday - timedelta(weeks=WEEKS - 1)
    rows = session.scalars(
        select(Lesson)
        .where(Lesson.group_id == lesson.group_id, Lesson.cancelled.is_(False))
        .where(Lesson.start >= first, Lesson.start < monday + timedelta(weeks=1))
        .where(Lesson.start <= now)
        .order_by(Lesson.start)
    ).all()
    numbers_of = lesson_numbers(session, list(rows))
    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        year, week, _ = row.start.astimezone(tz).isocalendar()
        weeks[f"{year}-W{week:02d}"].append(numbers_of[row.id])
    out = []
    threshold = school.small_count_threshold
    for key in sorted(weeks):
        numbers = week_row(weeks[key])
        n = numbers["device_lessons_with_findings"]
        hidden = 0 < n < threshold
        out.append(
            {
                "week": key,
                "label": t("trend.week", week=int(key[-2:])),
                **numbers,
                "device_lessons_with_findings": None if hidden else n,
                "minutes": None if hidden else numbers["minutes"],
                "devices_text": t("count.fewer", n=threshold) if hidden else str(n),
            }
        )
    return out
