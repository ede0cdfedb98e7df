"""The CSV export of lesson reports, for admins (the audit log page is ``audit_log``)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import localtime
from service import audit
from service.actors import Actor
from service.errors import InvalidRequest
from service.lessons import records as lessons
from service.models import Lesson, School, User
from service.reports.lesson_report import stored_numbers
from service.reports.numbers import suppress_small_counts
from service.schools import registry as schools
from service.web import access
from service.web.pages.common import spreadsheet_cell

MAX_EXPORT_DAYS = 400


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise InvalidRequest("%(what)s must be a date (YYYY-MM-DD)", what=what) from None


def export_csv(session: Session, *, viewer: User, first: date, last: date, now: datetime) -> bytes:
    """One row per lesson and category, small counts suppressed as on the pages."""
    access.require_role(viewer, access.ADMIN)
    if last < first or (last - first).days > MAX_EXPORT_DAYS:
        raise InvalidRequest(
            "choose a range of at most %(limit)s days, from before to", limit=MAX_EXPORT_DAYS
        )
    school = session.get_one(School, viewer.school_id)
    tz = schools.check_timezone(school.timezone)
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    query = select(Lesson).where(
        Lesson.school_id == school.id, Lesson.start >= start, Lesson.start < end
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "lesson_id",
            "start",
            "end",
            "group",
            "subject",
            "devices_expected",
            "devices_reporting",
            "category",
            "devices",
            "seconds",
        ]
    )
    threshold = school.small_count_threshold
    for row in lessons.lesson_rows(session, query):
        numbers = suppress_small_counts(
            {**stored_numbers(session, row.lesson), "suppressed_below": None}, threshold
        )
        base = [
            row.lesson.id,
            # Local with the offset: a person opens this file, a program still reads it.
            localtime.iso(row.lesson.start, tz),
            localtime.iso(row.lesson.end, tz),
            spreadsheet_cell(row.group),
            spreadsheet_cell(row.lesson.subject or ""),
            numbers["devices_expected"],
            numbers["devices_reporting"],
        ]
        cats = numbers["categories"] or [{"category": "", "devices": 0, "seconds": 0}]
        for c in cats:
            hidden = c["devices"] is None
            writer.writerow(
                [
                    *base,
                    c["category"],
                    f"<{threshold}" if hidden else c["devices"],
                    "" if hidden else c["seconds"],
                ]
            )
    audit.record(
        session,
        actor=Actor.of_user(viewer),
        school_id=viewer.school_id,
        action="report.export",
        obj=f"{first}..{last}",
        now=now,
    )
    return out.getvalue().encode("utf-8")
