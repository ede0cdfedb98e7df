"""Uploaded timetable files between their preview and the admin's confirm, and their progress.

An upload is stored with the browser session that sent it (only that session sees it), read in
a background thread that writes its progress to the row (the page polls it) and ends with the
preview; on confirm the same thread kind applies it. The file's bytes are dropped as soon as it
is imported, discarded or fails, and uploads left alone are deleted after ``KEEP``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from service import credentials
from service.errors import Conflict, InvalidRequest, NotFound, ServiceError
from service.models import School, TimetableUpload
from service.timetable import PRESETS, Limits, TimetableError, Window, school_year
from service.timetable_store import imports, sources

log = logging.getLogger("lessonwatch.timetable")

MAX_BYTES = Limits().max_bytes
KEEP = timedelta(hours=2)
PER_SESSION = 3  # uploads one session may hold at a time; older ones are dropped
MAX_FILENAME = 200


def clean_filename(name: str) -> str:
    """The file's base name, as it is shown back: printable, at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(c for c in base if c.isprintable())[:MAX_FILENAME]
    return base or "upload"


def create(
    session: Session,
    *,
    school: School,
    session_id: str,
    uploaded_by: str,
    filename: str,
    data: bytes,
    source: str,
    group: str | None,
    mapping: str | None,
    now: datetime,
) -> TimetableUpload:
    if not data:
        raise InvalidRequest("the file is empty")
    if len(data) > MAX_BYTES:
        raise InvalidRequest(
            "the file is larger than %(limit)s bytes", limit=format(MAX_BYTES, ",")
        )
    if mapping is not None and mapping not in PRESETS:
        raise InvalidRequest("mapping must be one of %(choices)s", choices=", ".join(PRESETS))
    if group is not None and (len(group) > 64 or not group.isprintable()):
        raise InvalidRequest("the group is 1 to 64 printable characters")
    source = sources.check_name(source)
    session.execute(
        delete(TimetableUpload).where(TimetableUpload.created_at < now - KEEP),
        execution_options={"synchronize_session": False},
    )
    mine = session.scalars(
        select(TimetableUpload.id)
        .where(TimetableUpload.session_id == session_id)
        .order_by(TimetableUpload.created_at.desc(), TimetableUpload.id)
    ).all()
    if len(mine) >= PER_SESSION:
        session.execute(
            delete(TimetableUpload).where(TimetableUpload.id.in_(mine[PER_SESSION - 1 :])),
            execution_options={"synchronize_session": False},
        )
    row = TimetableUpload(
        id=credentials.new_id("u_"),
        school_id=school.id,
        session_id=session_id,
        uploaded_by=uploaded_by,
        created_at=now,
        filename=clean_filename(filename),
        source=source,
        default_group=group,
        mapping=mapping,
        data=data,
        state="reading",
        done=0,
        total=0,
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, *, upload_id: str, session_id: str, school: School) -> TimetableUpload:
    row = session.get(TimetableUpload, upload_id) if len(upload_id) <= 64 else None
    if row is None or row.session_id != session_id or row.school_id != school.id:
        raise NotFound("no such upload; it may have been imported, discarded or expired")
    return row


def to_json(row: TimetableUpload) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "source": row.source,
        "group": row.default_group,
        "mapping": row.mapping,
        "state": row.state,
        "done": row.done,
        "total": row.total,
        "preview": row.preview,
        "error": row.error,
    }


def start_apply(row: TimetableUpload) -> None:
    """Mark a previewed upload for import; a second confirm (a replay) is refused."""
    if row.state != "previewed" or row.data is None:
        raise Conflict(
            "this upload is %(state)s; it can be imported once, after its preview",
            state=row.state,
        )
    row.state, row.done, row.total = "applying", 0, 0


def discard(session: Session, row: TimetableUpload) -> None:
    if row.state in ("reading", "applying"):
        raise Conflict("this upload is being read or imported; wait for it to finish")
    session.delete(row)


class _Progress:
    """Writes how far the reading is to the row, about fifty times per file at most."""

    def __init__(self, sessions: sessionmaker[Session], upload_id: str) -> None:
        self.sessions, self.upload_id, self.written = sessions, upload_id, -1

    def __call__(self, done: int, total: int) -> None:
        step = max(1, total // 50)
        if done != total and done - self.written < step:
            return
        self.written = done
        with self.sessions.begin() as session:
            session.execute(
                update(TimetableUpload)
                .where(TimetableUpload.id == self.upload_id)
                .values(done=done, total=total),
                execution_options={"synchronize_session": False},
            )


def _finish(sessions: sessionmaker[Session], upload_id: str, **values: Any) -> None:
    with sessions.begin() as session:
        session.execute(
            update(TimetableUpload).where(TimetableUpload.id == upload_id).values(**values),
            execution_options={"synchronize_session": False},
        )


def run(sessions: sessionmaker[Session], *, upload_id: str, now: datetime) -> None:
    """Read (state ``reading``) or import (state ``applying``) one upload; records the outcome."""
    with sessions.begin() as session:
        row = session.get(TimetableUpload, upload_id)
        if row is None or row.data is None or row.state not in ("reading", "applying"):
            return
        school = session.get_one(School, row.school_id)
        applying = row.state == "applying"
        job = imports.FileImport(
            data=row.data,
            name=row.filename,
            source=row.source,
            window=None,
            mapping=row.mapping,
            group=row.default_group,
            # The preview lists the entries that cannot be imported; confirming it, with that
            # list in view, is the admin asking to import the rest.
            partial=True,
            dry_run=not applying,
            actor=f"user:{row.uploaded_by}",
        )
        school_name = school.name

    def window_of(tz: ZoneInfo) -> Window:
        return school_year(now.astimezone(tz).date(), tz)

    try:
        done = imports.run(
            sessions,
            school_name=school_name,
            job=job,
            now=now,
            window_of=window_of,
            progress=_Progress(sessions, upload_id),
        )
    except TimetableError as exc:
        failed = {"error": said(exc)}
        _finish(
            sessions, upload_id, state="failed", error=str(exc)[:20_000], preview=failed, data=None
        )
        return
    except ServiceError as exc:
        failed = {"error": said(exc)}
        _finish(sessions, upload_id, state="failed", error=exc.message, preview=failed, data=None)
        return
    if applying:
        counts = done.applied.counts() if done.applied else {}
        _finish(
            sessions, upload_id, state="done", preview=done.preview | {"applied": counts}, data=None
        )
    else:
        _finish(sessions, upload_id, state="previewed", preview=done.preview)


def said(value: object) -> Any:
    """A message as JSON: its msgid and, in turn, its values. A failure is met in a thread of
    its own; stored this way, the page shows it in the reader's language when it is read."""
    msgid, params = getattr(value, "msgid", None), getattr(value, "params", None)
    if isinstance(msgid, str) and isinstance(params, Mapping):
        return {"msgid": msgid, "params": {name: said(v) for name, v in params.items()}}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def in_background(work: Callable[[], None], what: str) -> None:
    """Run ``work`` in a thread of its own; a failure is logged, never raised into a request."""

    def guarded() -> None:
        try:
            work()
        except Exception:
            log.exception("%s failed", what)

    threading.Thread(target=guarded, name=what, daemon=True).start()


def run_guarded(sessions: sessionmaker[Session], *, upload_id: str, now: datetime) -> None:
    """``run``, and an unexpected failure recorded on the upload instead of leaving it waiting."""
    try:
        run(sessions, upload_id=upload_id, now=now)
    except Exception:
        log.exception("timetable upload %s failed", upload_id)
        _finish(
            sessions,
            upload_id,
            state="failed",
            error="internal error; see the collector's log",
            data=None,
        )
