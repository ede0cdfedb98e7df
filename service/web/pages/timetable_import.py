"""Importing a timetable file from the browser: the upload form, its progress and its preview.

The upload is kept server-side with the browser session (``service.timetable_store.uploads``)
between the preview and the admin's confirm; the page shows what the import will insert,
update, cancel and remove, and each entry it cannot import, by line or UID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import localtime
from service.errors import InvalidRequest
from service.models import Group, TimetableUpload, User, WebSession
from service.schools import registry as schools
from service.timetable import PRESETS, csvcolumns
from service.timetable_store import uploads
from service.web.pages.common import Translate, local
from service.web.pages.timetable_sources import school_of

MAX_BYTES = uploads.MAX_BYTES


def groups_of(session: Session, school_id: int) -> list[str]:
    query = select(Group.name).where(Group.school_id == school_id).order_by(Group.name)
    return list(session.scalars(query))


def csv_layout() -> dict[str, Any]:
    """The CSV columns and formats the parser accepts, read from its own table, so the page
    shows exactly what an import takes (the texts are msgids, translated by the template)."""
    return {
        "columns": [
            {
                "key": c.key,
                "nl": c.nl,
                "en": c.en,
                "required": c.required,
                "meaning": c.meaning,
                "example": c.example,
            }
            for c in csvcolumns.COLUMNS
        ],
        "date_formats": [{"format": f, "example": e} for f, e in csvcolumns.DATE_FORMATS],
        "time_formats": [{"format": f, "example": e} for f, e in csvcolumns.TIME_FORMATS],
        "yes": list(csvcolumns.YES),
        "no": list(csvcolumns.NO),
        "example": csvcolumns.example("nl"),
    }


def import_page(session: Session, *, viewer: User) -> dict[str, Any]:
    school = school_of(session, viewer)
    return {
        "presets": list(PRESETS),
        "groups": groups_of(session, school.id),
        "max_bytes": MAX_BYTES,
        "max_megabytes": MAX_BYTES // (1024 * 1024),
        "csv": csv_layout(),
    }


def upload(
    session: Session,
    *,
    viewer: User,
    ws: WebSession,
    file: tuple[str, bytes] | None,
    source: str,
    group: str,
    mapping: str,
    now: datetime,
) -> TimetableUpload:
    school = school_of(session, viewer)
    if file is None:
        raise InvalidRequest("choose a file to import")
    filename, data = file
    cleaned = uploads.clean_filename(filename)
    return uploads.create(
        session,
        school=school,
        session_id=ws.id,
        uploaded_by=viewer.username,
        filename=cleaned,
        data=data,
        source=source or cleaned[:100],
        group=group or None,
        mapping=mapping or None,
        now=now,
    )


@dataclass(frozen=True)
class _Said:
    """A message stored as JSON by ``uploads.said``, read back for the translator."""

    msgid: str
    params: Mapping[str, object]


def _said(value: object) -> object:
    if isinstance(value, dict) and isinstance(value.get("msgid"), str):
        params = value.get("params") or {}
        return _Said(value["msgid"], {name: _said(v) for name, v in params.items()})
    return value


def upload_page(
    session: Session, *, viewer: User, ws: WebSession | None, upload_id: str, t: Translate
) -> dict[str, Any]:
    school = school_of(session, viewer)
    row = uploads.get(session, upload_id=upload_id, session_id=ws.id if ws else "", school=school)
    page = uploads.to_json(row)
    preview = row.preview or {}
    tz = schools.check_timezone(school.timezone)
    if "window" in preview:
        # Admins read school time: the window's days and each example's start, local.
        first = local(preview["window"]["start"], tz).date()
        last = local(preview["window"]["end"], tz).date() - timedelta(days=1)  # [start, end)
        page["window_local"] = {"first": first.isoformat(), "last": last.isoformat()}
    for examples in (preview.get("plan") or {}).get("examples", {}).values():
        for example in examples:
            for lesson in (example.get("before"), example.get("after"), example):
                if lesson and "start" in lesson:
                    lesson["local"] = localtime.moment(local(lesson["start"], tz), tz)
    page["working"] = row.state in ("reading", "applying")
    page["percent"] = 100 * row.done // row.total if row.total else None
    page["problems"] = preview.get("problems", [])
    # Each problem in the reader's language where the preview kept its msgid (a preview stored
    # before it did keeps its English lines).
    messages = preview.get("problem_messages")
    page["problem_texts"] = (
        [f"{m['where']}: {t.message(m['msgid'], m['params'])}" for m in messages]
        if messages is not None and len(messages) == len(page["problems"])
        else page["problems"]
    )
    # A failure in the reader's language (an upload read before this was stored has only the
    # English text).
    error = _said(preview.get("error"))
    page["error_text"] = t.message(error.msgid, error.params) if isinstance(error, _Said) else None
    page["plan"] = preview.get("plan")
    return page


def upload_row(
    session: Session, *, viewer: User, ws: WebSession | None, upload_id: str
) -> TimetableUpload:
    school = school_of(session, viewer)
    return uploads.get(session, upload_id=upload_id, session_id=ws.id if ws else "", school=school)
