"""The timetable admin pages (issue 6): sources, file import with preview and progress, a
group's week, editing a lesson, weekly patterns and school holidays.

Work that takes long (reading a large file, importing it, syncing a source) runs in a
background thread started once the request's transaction has committed; the page polls the
upload's progress row, or shows the source's last result.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.errors import InvalidRequest
from service.models import User
from service.runtime import Runtime, runtime
from service.timetable.holidays import MAX_BYTES as HOLIDAY_BYTES
from service.timetable_store import holidays, sync, uploads
from service.web import websessions
from service.web.forms import Form
from service.web.pages import (
    timetable_holidays,
    timetable_import,
    timetable_pattern,
    timetable_sources,
    timetable_week,
)
from service.web.routes.base import (
    SESSION_COOKIE,
    Ctx,
    Outcome,
    Page,
    Redirect,
    act,
    show,
    web_settings,
)
from service.web.routes.lessons import lesson_id
from service.web.uploads import UploadForm, read_upload

router = APIRouter(prefix="/admin/timetable")


def _after_commit(ctx: Ctx, work: Callable[[Runtime], None], what: str) -> None:
    """Start ``work`` in the background once this request's transaction has committed."""
    rt = ctx.rt

    def started(_session: Session) -> None:
        uploads.in_background(lambda: work(rt), what)

    event.listen(ctx.db, "after_commit", started, once=True)


async def _read_file(request: Request) -> Form:
    return await read_upload(request, uploads.MAX_BYTES)


def _file(form: Form) -> tuple[str, bytes] | None:
    return form.file("file") if isinstance(form, UploadForm) else None


# sources


@router.get("")
async def sources_page(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = timetable_sources.sources_page(ctx.db, viewer=ctx.signed_in(), t=ctx.t)
        return Page("tt_sources.html", page)

    return await show(request, build)


@router.post("/sources")
async def source_add(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        row = timetable_sources.add_source(
            ctx.db,
            viewer=ctx.signed_in(),
            settings=ctx.rt.settings,
            kind=form.get("kind"),
            name=form.text("name", limit=100, required=True),
            secret=form.get("secret")[:5000],
            portal=form.text("portal", limit=4000),
            mapping=form.text("mapping", limit=40),
            group=form.text("group", limit=64),
            interval=form.get("interval", "3600")[:10],
            now=ctx.now,
        )
        ctx.flash(ctx.t("Source %(name)s added.", name=row.name))
        return Redirect("/admin/timetable")

    return await act(request, action)


@router.post("/sources/{sid}/sync")
async def source_sync(request: Request, sid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        viewer = ctx.signed_in()
        row = timetable_sources.sync_target(ctx.db, viewer=viewer, source_id=sid)
        source_id, actor = row.id, f"user:{viewer.username}"

        def work(rt: Runtime) -> None:
            sync.sync_one(
                rt.sessions, rt.settings, source_id=source_id, now=rt.clock(), actor=actor
            )

        _after_commit(ctx, work, f"timetable sync of source {source_id}")
        ctx.flash(ctx.t("Syncing %(name)s; its result appears here shortly.", name=row.name))
        return Redirect("/admin/timetable")

    return await act(request, action)


@router.post("/sources/{sid}/remove")
async def source_remove(request: Request, sid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        name = timetable_sources.remove_source(
            ctx.db, viewer=ctx.signed_in(), source_id=sid, now=ctx.now
        )
        ctx.flash(ctx.t("Source %(name)s removed.", name=name))
        return Redirect("/admin/timetable")

    return await act(request, action)


# file import: upload, progress and preview, confirm or discard


@router.get("/import")
async def import_form(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        return Page("tt_import.html", timetable_import.import_page(ctx.db, viewer=ctx.signed_in()))

    return await show(request, build)


def _run_upload(upload_id: str) -> Callable[[Runtime], None]:
    def work(rt: Runtime) -> None:
        uploads.run_guarded(rt.sessions, upload_id=upload_id, now=rt.clock())

    return work


@router.post("/import")
async def import_upload(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        row = timetable_import.upload(
            ctx.db,
            viewer=ctx.signed_in(),
            ws=ctx.ensure_session(),
            file=_file(form),
            source=form.text("source", limit=100),
            group=form.text("group", limit=64),
            mapping=form.text("mapping", limit=40),
            now=ctx.now,
        )
        _after_commit(ctx, _run_upload(row.id), f"timetable upload {row.id}")
        return Redirect(f"/admin/timetable/import/{row.id}")

    return await act(request, action, read=_read_file)


@router.get("/import/{uid}")
async def import_status(request: Request, uid: str) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = timetable_import.upload_page(
            ctx.db, viewer=ctx.signed_in(), ws=ctx.ws, upload_id=uid, t=ctx.t
        )
        return Page("tt_upload.html", page)

    return await show(request, build)


@router.post("/import/{uid}/confirm")
async def import_confirm(request: Request, uid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        row = timetable_import.upload_row(ctx.db, viewer=ctx.signed_in(), ws=ctx.ws, upload_id=uid)
        uploads.start_apply(row)
        _after_commit(ctx, _run_upload(row.id), f"timetable upload {row.id}")
        return Redirect(f"/admin/timetable/import/{row.id}")

    return await act(request, action)


@router.post("/import/{uid}/discard")
async def import_discard(request: Request, uid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        row = timetable_import.upload_row(ctx.db, viewer=ctx.signed_in(), ws=ctx.ws, upload_id=uid)
        uploads.discard(ctx.db, row)
        ctx.flash(ctx.t("The upload was discarded."))
        return Redirect("/admin/timetable/import")

    return await act(request, action)


# a group's week and one lesson


@router.get("/week")
async def week(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        query = ctx.request.query_params
        page = timetable_week.week_view(
            ctx.db,
            viewer=ctx.signed_in(),
            group=query.get("group") or None,
            week=query.get("week") or None,
            now=ctx.now,
            t=ctx.t,
        )
        return Page("tt_week.html", page)

    return await show(request, build)


@router.get("/lessons/{lid}")
async def lesson_edit_form(request: Request, lid: str) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = timetable_week.lesson_form(
            ctx.db, viewer=ctx.signed_in(), lesson_id=lesson_id(lid), now=ctx.now
        )
        return Page("tt_lesson.html", page)

    return await show(request, build)


@router.post("/lessons/{lid}")
async def lesson_edit(request: Request, lid: str) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        changed, back = timetable_week.save_lesson(
            ctx.db,
            viewer=ctx.signed_in(),
            lesson_id=lesson_id(lid),
            day=form.text("day", limit=20, required=True),
            start=form.text("start", limit=10, required=True),
            end=form.text("end", limit=10, required=True),
            teacher=form.text("teacher", limit=64),
            room=form.text("room", limit=64),
            remote=form.get("remote") == "1",
            cancelled=form.get("cancelled") == "1",
            now=ctx.now,
        )
        ctx.flash(ctx.t("Lesson saved.") if changed else ctx.t("Nothing was changed."))
        return Redirect(back)

    return await act(request, action)


@router.post("/lessons/{lid}/clear")
async def lesson_clear(request: Request, lid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        timetable_week.clear_lesson(
            ctx.db, viewer=ctx.signed_in(), lesson_id=lesson_id(lid), now=ctx.now
        )
        ctx.flash(ctx.t("The source decides this lesson again from its next sync."))
        return Redirect(f"/admin/timetable/lessons/{lid}")

    return await act(request, action)


# weekly patterns


@router.get("/pattern")
async def pattern_form(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = timetable_pattern.pattern_page(
            ctx.db,
            viewer=ctx.signed_in(),
            group=ctx.request.query_params.get("group") or None,
            now=ctx.now,
            t=ctx.t,
        )
        return Page("tt_pattern.html", page)

    return await show(request, build)


@router.post("/pattern")
async def pattern_save(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        group = form.text("group", limit=64, required=True)
        preview = timetable_pattern.save_pattern(
            ctx.db,
            viewer=ctx.signed_in(),
            group=group,
            first=form.text("first", limit=20, required=True),
            last=form.text("last", limit=20, required=True),
            days={i: form.get(f"day{i}")[:2000] for i in range(5)},
            teacher=form.text("teacher", limit=64),
            room=form.text("room", limit=64),
            now=ctx.now,
        )
        plan = preview["plan"]
        ctx.flash(
            ctx.t(
                "Pattern saved: %(inserted)s added, %(updated)s changed, %(removed)s removed, "
                "%(skipped)s left out for holidays.",
                inserted=plan["inserts"],
                updated=plan["updates"],
                removed=plan["removals"],
                skipped=preview["skipped"].get("holiday", 0),
            )
        )
        return Redirect("/admin/timetable/pattern?" + _group_query(group))

    return await act(request, action)


def _group_query(group: str) -> str:
    return urlencode({"group": group})


# school holidays


@router.get("/holidays")
async def holidays_page(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = timetable_holidays.holidays_page(
            ctx.db, viewer=ctx.signed_in(), region=ctx.request.query_params.get("region") or None
        )
        return Page("tt_holidays.html", page)

    return await show(request, build)


@router.post("/holidays/import")
async def holidays_import(request: Request) -> Response:
    fetched: list[tuple[bytes, str]] = []

    async def read(request: Request) -> Form:
        # A URL is fetched here, before ``act`` opens the transaction: a slow or hostile server
        # then holds no database connection (on SQLite, the whole collector's write lock), and
        # only for a signed-in admin whose form carries the session's CSRF token.
        form = await _read_holidays(request)
        file = _file(form)
        wants_url = (file is None or not file[1]) and bool(form.get("url").strip())
        if wants_url and await run_in_threadpool(_may_fetch, request, form.get("csrf")):
            url = form.text("url", limit=4000)
            settings = runtime(request).settings
            fetched.append(
                await run_in_threadpool(
                    timetable_holidays.fetch_file,
                    url,
                    seconds=settings.holiday_fetch_seconds,
                    allow=settings.allowed_fetch_hosts,
                )
            )
        return form

    def action(ctx: Ctx, form: Form) -> Outcome:
        viewer = ctx.signed_in()
        timetable_sources.school_of(ctx.db, viewer)  # checked again, in this transaction
        file = _file(form)
        if file is not None and file[1]:
            data, name = file[1], uploads.clean_filename(file[0])
        elif fetched:
            data, name = fetched[0]
        elif form.text("url", limit=4000):
            # Only when the session changed between the check before the fetch and this one.
            raise InvalidRequest("the holiday URL was not fetched; send the form again")
        else:
            raise InvalidRequest("choose a file or give the URL of one")
        result = holidays.import_file(ctx.db, actor=ctx.actor(), data=data, name=name, now=ctx.now)
        ctx.flash(
            ctx.t.ngettext(
                "%(num)s holiday period imported (%(years)s).",
                "%(num)s holiday periods imported (%(years)s).",
                result.stored,
                years=", ".join(result.schoolyears),
            )
        )
        return Redirect("/admin/timetable/holidays")

    return await act(request, action, read=read)


async def _read_holidays(request: Request) -> Form:
    return await read_upload(request, HOLIDAY_BYTES)


def _may_fetch(request: Request, csrf: str) -> bool:
    """Whether the request comes from a signed-in admin with the session's CSRF token; in a
    short transaction of its own, before anything is fetched for it."""
    rt = runtime(request)
    web = web_settings(request)
    with rt.sessions.begin() as db:
        ws = websessions.load(
            db, request.cookies.get(SESSION_COOKIE), now=rt.clock(), minutes=web.session_minutes
        )
        if ws is None or ws.user_id is None or not websessions.csrf_ok(ws, csrf):
            return False
        return timetable_holidays.may_import(db, db.get(User, ws.user_id))


@router.post("/holidays/region")
async def holidays_region(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        holidays.set_region(
            ctx.db,
            actor=ctx.actor(),
            region=form.text("region", limit=20),
            advised=form.get("advised") == "1",
            now=ctx.now,
        )
        ctx.flash(ctx.t("Saved."))
        return Redirect("/admin/timetable/holidays")

    return await act(request, action)


@router.post("/holidays/forget")
async def holidays_forget(request: Request) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        n = holidays.forget_own(ctx.db, actor=ctx.actor(), now=ctx.now)
        ctx.flash(
            ctx.t.ngettext(
                "%(num)s holiday period of this school removed: the national holidays apply.",
                "%(num)s holiday periods of this school removed: the national holidays apply.",
                n,
            )
        )
        return Redirect("/admin/timetable/holidays")

    return await act(request, action)
