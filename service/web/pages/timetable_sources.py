"""The timetable sources page: each source with its last sync result; add, sync now, remove.

A feed URL or Zermelo token is typed once into a password field, sealed by
``service.timetable_store.sources`` and never shown again: the page shows only its hint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from policies import localtime
from service.errors import InvalidRequest, NotFound
from service.models import School, TimetableSource, User
from service.schools import registry as schools
from service.settings import Settings
from service.timetable import PRESETS
from service.timetable_store import sources
from service.web import access
from service.web.i18n import labels
from service.web.pages.common import Translate

INTERVALS = (0, 900, 3600, 4 * 3600, 86400)  # the choices the page offers


def school_of(session: Session, viewer: User) -> School:
    access.require_role(viewer, access.ADMIN)
    return session.get_one(School, viewer.school_id)


def _interval(t: Translate, seconds: int) -> str:
    if not seconds:
        return t("by hand only")
    return t.ngettext("every %(num)s minute", "every %(num)s minutes", seconds // 60)


def _row(source: TimetableSource, t: Translate, tz: Any) -> dict[str, Any]:
    shown = sources.to_json(source)
    last = localtime.moment(source.last_sync_at, tz, named=True) if source.last_sync_at else None
    return {
        **shown,
        "id": source.id,
        "kind_label": t(labels.label(labels.SOURCE_KINDS, source.kind)),
        "interval_label": _interval(t, source.interval_seconds),
        "last_sync_label": last,
        "result_label": t(labels.label(labels.SYNC_RESULTS, source.last_result))
        if source.last_result
        else None,
        "syncable": source.kind in sources.FETCHED,
        "counts_label": " · ".join(
            f"{t(labels.label(labels.SYNC_COUNTS, k))}: {v}"
            for k, v in (source.last_counts or {}).items()
            if v
        ),
    }


def sources_page(session: Session, *, viewer: User, t: Translate) -> dict[str, Any]:
    school = school_of(session, viewer)
    tz = schools.check_timezone(school.timezone)
    return {
        "sources": [_row(s, t, tz) for s in sources.list_sources(session, school=school)],
        "presets": list(PRESETS),
        "intervals": [{"seconds": s, "label": _interval(t, s)} for s in INTERVALS],
    }


def add_source(
    session: Session,
    *,
    viewer: User,
    settings: Settings,
    kind: str,
    name: str,
    secret: str,
    portal: str,
    mapping: str,
    group: str,
    interval: str,
    now: datetime,
) -> TimetableSource:
    school = school_of(session, viewer)
    if kind not in sources.FETCHED:
        raise InvalidRequest("kind must be ical_url or zermelo")
    if mapping and mapping not in PRESETS:
        raise InvalidRequest("mapping must be one of %(choices)s", choices=", ".join(PRESETS))
    if not interval.isdigit() or int(interval) not in INTERVALS:
        raise InvalidRequest("choose one of the sync intervals offered")
    if len(group) > 64 or (group and not group.isprintable()):
        raise InvalidRequest("the group is at most 64 printable characters")
    return sources.add_source(
        session,
        school=school,
        settings=settings,
        name=name,
        kind=kind,
        now=now,
        secret=secret,
        portal=portal if kind == "zermelo" else None,
        mapping=(mapping or None) if kind == "ical_url" else None,
        default_group=group or None,
        interval_seconds=int(interval),
        actor=f"user:{viewer.username}",
    )


def source_by_id(session: Session, *, viewer: User, source_id: str) -> TimetableSource:
    school = school_of(session, viewer)
    row = (
        session.get(TimetableSource, int(source_id))
        if source_id.isdigit() and len(source_id) < 10
        else None
    )
    if row is None or row.school_id != school.id:
        raise NotFound("no such timetable source")
    return row


def remove_source(session: Session, *, viewer: User, source_id: str, now: datetime) -> str:
    row = source_by_id(session, viewer=viewer, source_id=source_id)
    name = row.name
    sources.remove_source(
        session,
        school=school_of(session, viewer),
        name=name,
        now=now,
        actor=f"user:{viewer.username}",
    )
    return name


def sync_target(session: Session, *, viewer: User, source_id: str) -> TimetableSource:
    row = source_by_id(session, viewer=viewer, source_id=source_id)
    if row.kind not in sources.FETCHED:
        raise InvalidRequest("only feed and Zermelo sources sync; import a file again instead")
    return row
