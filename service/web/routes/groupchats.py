"""The group-chat register's pages: the list, the form, a chat, the overview, the CSV export,
and the school's closed platform on the admin's school settings page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from policies.groupchat import ChatInputError
from service.errors import InvalidRequest, NotFound
from service.groupchats import register as groupchats
from service.web.forms import Form
from service.web.pages import groupchats as pages
from service.web.routes.base import Ctx, Download, Outcome, Page, Redirect, act, show

router = APIRouter()
MAX_ID_DIGITS = 9


def chat_id(value: str) -> int:
    if not value.isdigit() or len(value) > MAX_ID_DIGITS:
        raise NotFound("no such group chat")
    return int(value)


@router.get("/groupchats")
async def register(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = pages.register_page(
            ctx.db,
            viewer=ctx.signed_in(),
            catalog=groupchats.shipped_catalog(),
            now=ctx.now,
            lang=ctx.lang,
        )
        return Page("groupchats.html", page)

    return await show(request, build)


@router.get("/groupchats/new")
async def new(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        groupchats.school_for(ctx.db, ctx.signed_in(), groupchats.SEES_OWN)
        return Page("groupchat_form.html", pages.form_page(groupchats.shipped_catalog(), ctx.lang))

    return await show(request, build)


@router.post("/groupchats")
async def create(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        catalog = groupchats.shipped_catalog()
        raw = pages.chat_from_form(form.fields)
        try:
            row = groupchats.register(
                ctx.db, viewer=ctx.signed_in(), raw=raw, catalog=catalog, now=ctx.now
            )
        except ChatInputError as exc:
            page = pages.form_page(catalog, ctx.lang, values=raw, error=exc)
            return Page("groupchat_form.html", page, status=422)
        ctx.flash(ctx.t("Group chat saved and checked."))
        return Redirect(f"/groupchats/{row.id}")

    return await act(request, action)


@router.get("/groupchats/overview")
async def overview(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = pages.overview_page(
            ctx.db,
            viewer=ctx.signed_in(),
            catalog=groupchats.shipped_catalog(),
            now=ctx.now,
            lang=ctx.lang,
        )
        return Page("groupchat_overview.html", page)

    return await show(request, build)


@router.post("/groupchats/export")
async def export(request: Request) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        body = pages.export_csv(
            ctx.db, viewer=ctx.signed_in(), catalog=groupchats.shipped_catalog(), now=ctx.now
        )
        return Download(body, "text/csv; charset=utf-8", f"groupchats-{ctx.now.date()}.csv")

    return await act(request, action)


def _chat_page(ctx: Ctx, cid: int) -> Page:
    viewer = ctx.signed_in()
    catalog = groupchats.shipped_catalog()
    row = groupchats.get(ctx.db, viewer=viewer, chat_id=cid, catalog=catalog, now=ctx.now)
    chat = pages.chats_json(ctx.db, [row], viewer=viewer, catalog=catalog, lang=ctx.lang)[0]
    return Page("groupchat_form.html", pages.form_page(catalog, ctx.lang, chat=chat))


@router.get("/groupchats/{cid}")
async def chat(request: Request, cid: str) -> Response:
    return await show(request, lambda ctx: _chat_page(ctx, chat_id(cid)))


@router.post("/groupchats/{cid}")
async def change(request: Request, cid: str) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        catalog = groupchats.shipped_catalog()
        raw = pages.chat_from_form(form.fields)
        try:
            groupchats.update(
                ctx.db,
                viewer=ctx.signed_in(),
                chat_id=chat_id(cid),
                raw=raw,
                catalog=catalog,
                now=ctx.now,
            )
        except ChatInputError as exc:
            page = _chat_page(ctx, chat_id(cid))
            failed = pages.form_page(
                catalog, ctx.lang, values=raw, error=exc, chat=page.data["chat"]
            )
            return Page("groupchat_form.html", failed, status=422)
        ctx.flash(ctx.t("Group chat saved and checked."))
        return Redirect(f"/groupchats/{cid}")

    return await act(request, action)


@router.post("/groupchats/{cid}/delete")
async def remove(request: Request, cid: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        groupchats.delete(ctx.db, viewer=ctx.signed_in(), chat_id=chat_id(cid), now=ctx.now)
        ctx.flash(ctx.t("Group chat deleted from the register."))
        return Redirect("/groupchats")

    return await act(request, action)


@router.post("/admin/school/closed-platform")
async def closed_platform(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        value = form.get("closed_platform").strip() or None
        try:
            n = groupchats.set_closed_platform(
                ctx.db,
                actor=ctx.actor(),
                closed_platform=value,
                catalog=groupchats.shipped_catalog(),
                now=ctx.now,
            )
        except ChatInputError as exc:
            raise InvalidRequest(
                "%(problem)s", problem=" ".join(exc.messages(ctx.lang).values())
            ) from None
        ctx.flash(
            ctx.t.ngettext(
                "Closed platform saved; %(num)s group chat checked again.",
                "Closed platform saved; %(num)s group chats checked again.",
                n,
            )
        )
        return Redirect("/admin/school")

    return await act(request, action)
