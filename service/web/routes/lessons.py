"""Teachers' and leaders' pages: the week, a lesson report, permissions, per-device data,
the attention list."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.errors import InvalidRequest, NotFound
from service.lessons import permissions
from service.web.forms import Form
from service.web.pages.attention import attention_page
from service.web.pages.device_view import allowed, device_view
from service.web.pages.report import report_page
from service.web.pages.week import week_page
from service.web.render import wants_json
from service.web.routes.base import Ctx, Outcome, Page, Redirect, act, show

router = APIRouter()
_LESSON_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def lesson_id(value: str) -> str:
    if not _LESSON_ID.match(value):
        raise NotFound("no such lesson")
    return value


@router.get("/lessons")
async def week(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = week_page(
            ctx.db,
            viewer=ctx.signed_in(),
            now=ctx.now,
            lang=ctx.lang,
            params=ctx.request.query_params,
        )
        return Page("week.html", page)

    return await show(request, build)


@router.get("/lessons/{lid}")
async def report(request: Request, lid: str) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = report_page(
            ctx.db, lesson_id=lesson_id(lid), viewer=ctx.signed_in(), now=ctx.now, lang=ctx.lang
        )
        return Page("report.html", page)

    return await show(request, build)


@router.post("/lessons/{lid}/permissions")
async def grant(request: Request, lid: str) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        try:
            permissions.grant(
                ctx.db,
                actor=ctx.actor(),
                lesson_id=lesson_id(lid),
                categories=form.all("category"),
                note=form.get("note"),
                now=ctx.now,
            )
        except InvalidRequest as exc:
            if wants_json(request):
                raise  # the JSON twin answers with the error object, as every other refusal
            # Nothing was written (grant checks before it adds): the report again, with the
            # message beside the form instead of an error page that loses the lesson.
            page = report_page(
                ctx.db, lesson_id=lid, viewer=ctx.signed_in(), now=ctx.now, lang=ctx.lang
            )
            return Page("report.html", {**page, "permission_error": ctx.t.error(exc)}, status=422)
        ctx.flash(ctx.t("Permission given. Devices pick it up at their next config check."))
        return Redirect(f"/lessons/{lid}")

    return await act(request, action)


@router.post("/lessons/{lid}/permissions/{pid}/withdraw")
async def withdraw(request: Request, lid: str, pid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        if not pid.isdigit() or len(pid) > 12:
            raise NotFound("no such permission for this lesson")
        permissions.withdraw(
            ctx.db,
            actor=ctx.actor(),
            lesson_id=lesson_id(lid),
            permission_id=int(pid),
            now=ctx.now,
        )
        ctx.flash(ctx.t("Permission withdrawn."))
        return Redirect(f"/lessons/{lid}")

    return await act(request, action)


@router.get("/lessons/{lid}/devices")
async def devices_form(request: Request, lid: str) -> Response:
    def build(ctx: Ctx) -> Outcome:
        allowed(ctx.db, lesson_id=lesson_id(lid), viewer=ctx.signed_in())
        return Page("devices_reason.html", {"lesson_id": lid})

    return await show(request, build)


@router.post("/lessons/{lid}/devices")
async def devices_show(request: Request, lid: str) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        reason = form.get("reason")
        if len(reason) > 2000:
            raise InvalidRequest("the reason may be at most 500 characters")
        page = device_view(
            ctx.db,
            lesson_id=lesson_id(lid),
            viewer=ctx.signed_in(),
            reason=reason,
            now=ctx.now,
            lang=ctx.lang,
        )
        return Page("devices.html", page)

    return await act(request, action)


@router.get("/attention")
# The list of every lesson with findings became the attention list (issue 17): old bookmarks
# show it, with their parameters. The same page rather than a redirect, so a JSON client of
# the old address gets an answer and not a 308 it may not follow.
@router.get("/escalations")
async def attention(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = attention_page(
            ctx.db,
            viewer=ctx.signed_in(),
            params=ctx.request.query_params,
            now=ctx.now,
            lang=ctx.lang,
        )
        return Page("attention.html", page)

    return await show(request, build)
