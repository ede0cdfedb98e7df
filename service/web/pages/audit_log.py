"""The audit log for a privacy officer: the school's own entries, newest first, in words and in
the school's local time, filtered by person, action and dates, a page at a time or as CSV.

One builder (``audit_log``) makes the rows; the page renders them as HTML (or JSON), and
``audit_csv`` writes the same rows with the same words, so what is exported is what was read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from policies import localtime
from policies.wire import format_time
from service import audit
from service.actors import Actor
from service.errors import InvalidRequest
from service.locale import N_
from service.models import AuditEntry, School, User
from service.schools import registry as schools
from service.web import access
from service.web.i18n import Translate, labels
from service.web.pages import audit_names
from service.web.pages.common import spreadsheet_cell

PAGE_SIZE = 50
# Past this many pages a number is a typo (a year of a busy school is about 2,000 pages).
MAX_PAGE = 100_000
# The CSV holds every entry the filters select, resolved in one go; beyond this the filters
# should be narrowed instead of building one very large answer in memory.
MAX_EXPORT = 50_000
EXPORT_ACTION = "audit.export"


@dataclass(frozen=True)
class Filters:
    person: str = ""
    action: str = ""
    first: date | None = None
    last: date | None = None
    page: int = 1

    def query(self, page: int | None = None) -> str:
        """The filters as a URL query (empty values left out), optionally on another page."""
        pairs = [
            ("person", self.person),
            ("action", self.action),
            ("from", self.first.isoformat() if self.first else ""),
            ("to", self.last.isoformat() if self.last else ""),
        ]
        if page is not None and page > 1:
            pairs.append(("page", str(page)))
        return urlencode([(k, v) for k, v in pairs if v])


def parse_filters(fields: Mapping[str, str]) -> Filters:
    """The filters of a request; a malformed value is refused with a message that names it."""
    person = fields.get("person", "").strip()
    if len(person) > 120:
        raise InvalidRequest("the person is too long (at most %(limit)s characters)", limit=120)
    action = fields.get("action", "").strip()
    if action and action not in labels.AUDIT_ACTIONS:
        raise InvalidRequest("unknown action %(action)r", action=action[:60])
    # The form's own labels name the field, so the message reads "Van moet een datum zijn".
    first = _day(fields.get("from", ""), N_("From"))
    last = _day(fields.get("to", ""), N_("To (inclusive)"))
    if first and last and last < first:
        raise InvalidRequest("the date 'to' is before the date 'from'")
    raw = fields.get("page", "").strip() or "1"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest("the page must be a whole number from 1 to %(limit)s", limit=MAX_PAGE)
    return Filters(person, action, first, last, int(raw))


def _day(text: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    # fromisoformat also reads "20261123"; the form sends YYYY-MM-DD, so only that is a date.
    if day is None or len(text) != 10:
        raise InvalidRequest("%(what)s must be a date (YYYY-MM-DD)", what=what)
    return day


def _selected(school: School, filters: Filters) -> Select[AuditEntry]:
    # Only this school's entries: another school's user names, lessons and reasons are theirs.
    query = select(AuditEntry).where(AuditEntry.school_id == school.id)
    if filters.person:
        query = query.where(AuditEntry.actor == filters.person)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    # The dates are the school's days: "to 23 November" ends at midnight in Amsterdam, not UTC.
    tz = schools.check_timezone(school.timezone)
    if filters.first:
        query = query.where(AuditEntry.at >= datetime.combine(filters.first, time(), tz))
    if filters.last:
        end = datetime.combine(filters.last + timedelta(days=1), time(), tz)
        query = query.where(AuditEntry.at < end)
    return query


def audit_log(
    session: Session, *, viewer: User, filters: Filters, t: Translate, everything: bool = False
) -> dict[str, Any]:
    """The entries ``filters`` select: one page of them, or all of them (``everything``, for
    the CSV), with the people and actions to filter by and the links to the pages around."""
    access.require_role(viewer, access.ADMIN)
    school = session.get_one(School, viewer.school_id)
    tz = schools.check_timezone(school.timezone)
    people = list(
        session.scalars(
            select(AuditEntry.actor)
            .where(AuditEntry.school_id == school.id)
            .distinct()
            .order_by(AuditEntry.actor)
        )
    )
    if filters.person and filters.person not in people:
        raise InvalidRequest(
            "no one named %(person)r appears in this school's audit log", person=filters.person
        )
    query = _selected(school, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    if filters.page > pages:
        raise InvalidRequest(
            "page %(page)s does not exist: the last page is %(pages)s",
            page=filters.page,
            pages=pages,
        )
    if everything and total > MAX_EXPORT:
        raise InvalidRequest(
            "%(total)s entries are more than one export holds (%(limit)s): choose fewer dates",
            total=total,
            limit=MAX_EXPORT,
        )
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if not everything:
        query = query.offset((filters.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    rows = list(session.scalars(query))
    names = audit_names.resolve(
        session,
        school_id=school.id,
        tz=tz,
        names=[*(e.object for e in rows), *(e.actor for e in rows), *people],
    )
    return {
        "zone": school.timezone,
        "filters": {
            "person": filters.person,
            "action": filters.action,
            "from": filters.first.isoformat() if filters.first else "",
            "to": filters.last.isoformat() if filters.last else "",
        },
        "people": [{"value": p, "label": audit_names.actor(p, names, t)} for p in people],
        "actions": sorted(
            ({"value": k, "label": t(v)} for k, v in labels.AUDIT_ACTIONS.items()),
            key=lambda a: a["label"],
        ),
        "total": total,
        "page": filters.page,
        "pages": pages,
        "newer": f"/admin/audit?{filters.query(filters.page - 1)}" if filters.page > 1 else None,
        "older": f"/admin/audit?{filters.query(filters.page + 1)}"
        if filters.page < pages
        else None,
        "entries": [
            {
                "id": e.id,
                "at": format_time(e.at),  # UTC, for JSON readers; the page shows "local"
                "local": localtime.moment(e.at, tz, seconds=True),
                "actor": e.actor,
                "actor_label": audit_names.actor(e.actor, names, t),
                "action": e.action,
                "action_label": t(labels.label(labels.AUDIT_ACTIONS, e.action)),
                "object": e.object,
                "object_label": audit_names.obj(e.object, names, t),
                "reason": e.reason,
            }
            for e in rows
        ],
    }


def audit_csv(
    session: Session, *, viewer: User, filters: Filters, t: Translate, now: datetime
) -> bytes:
    """Every entry the filters select as CSV, in the words and local times of the page; the
    export is itself written to the log (after the rows, so it is not in its own file)."""
    log = audit_log(session, viewer=viewer, filters=filters, t=t, everything=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            t("When (%(zone)s)", zone=log["zone"]),
            t("Who"),
            t("What"),
            t("Object"),
            t("Reason"),
        ]
    )
    for e in log["entries"]:
        writer.writerow(
            [
                e["local"],
                spreadsheet_cell(e["actor_label"]),
                e["action_label"],
                spreadsheet_cell(e["object_label"]),
                spreadsheet_cell(e["reason"] or ""),
            ]
        )
    audit.record(
        session,
        actor=Actor.of_user(viewer),
        school_id=viewer.school_id,
        action=EXPORT_ACTION,
        obj=f"audit:{filters.query()}"[:120],
        now=now,
    )
    return out.getvalue().encode("utf-8")
