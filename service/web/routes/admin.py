"""Admin pages: devices (with access requests and erasure), codes, users and tokens, policy,
school settings, audit log and the CSV export."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.accounts import users
from service.devices import enrolment, subject_access
from service.devices import registry as device_registry
from service.groupchats import register as groupchats
from service.retention import purge
from service.schools import settings as school_settings
from service.web import access
from service.web.forms import Form
from service.web.pages import admin_audit, admin_devices, admin_school, admin_users
from service.web.pages import audit_log as audit_pages
from service.web.pages import groupchats as groupchat_pages
from service.web.routes.base import Ctx, Download, Outcome, Page, Redirect, act, show

router = APIRouter(prefix="/admin")


@router.get("/devices")
async def devices(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = admin_devices.devices_page(ctx.db, viewer=ctx.signed_in())
        page["erase_note"] = ctx.t(
            "Erasing removes the device's summaries, token and identity. Per-lesson totals that "
            "no longer identify the device stay, as do the audit log's lines (with the "
            "pseudonym)."
        )
        return Page("admin_devices.html", page)

    return await show(request, build)


@router.post("/devices/{device_id}")
async def device_update(request: Request, device_id: str) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        admin_devices.update_device(
            ctx.db,
            viewer=ctx.signed_in(),
            device_id=device_id,
            group=form.text("group", limit=64, required=True),
            label=form.text("label", limit=200),
            now=ctx.now,
        )
        ctx.flash(ctx.t("Saved."))
        return Redirect("/admin/devices")

    return await act(request, action)


@router.post("/devices/{device_id}/retire")
async def device_retire(request: Request, device_id: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        device_registry.retire(ctx.db, actor=ctx.actor(), device_id=device_id, now=ctx.now)
        ctx.flash(ctx.t("Device %(device)s retired.", device=device_id[:40]))
        return Redirect("/admin/devices")

    return await act(request, action)


@router.post("/devices/{device_id}/export")
async def device_export(request: Request, device_id: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        data = subject_access.export_device(
            ctx.db, actor=ctx.actor(), device_id=device_id, now=ctx.now
        )
        body = json.dumps(data, indent=2, ensure_ascii=False).encode()
        return Download(body, "application/json", f"lessonwatch-{data['device']['id']}.json")

    return await act(request, action)


@router.post("/devices/{device_id}/erase")
async def device_erase(request: Request, device_id: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        n = subject_access.erase_device(ctx.db, actor=ctx.actor(), device_id=device_id, now=ctx.now)
        ctx.flash(
            ctx.t.ngettext(
                "Device %(device)s erased: %(num)s summary deleted.",
                "Device %(device)s erased: %(num)s summaries deleted.",
                n,
                device=device_id[:40],
            )
        )
        return Redirect("/admin/devices")

    return await act(request, action)


@router.get("/codes")
async def codes(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        return Page(
            "admin_codes.html",
            admin_devices.codes_page(ctx.db, viewer=ctx.signed_in(), now=ctx.now),
        )

    return await show(request, build)


@router.post("/codes")
async def code_create(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        group = form.text("group", limit=64, required=True)
        code = admin_devices.create_code(
            ctx.db,
            viewer=ctx.signed_in(),
            group=group,
            uses=form.integer("uses", low=1, high=100_000),
            days=form.integer("days", low=1, high=366),
            now=ctx.now,
        )
        ctx.flash(
            ctx.t(
                "New code for %(group)s: %(code)s. Write it down now; it is not shown again.",
                group=group,
                code=code,
            )
        )
        return Redirect("/admin/codes")

    return await act(request, action)


@router.post("/codes/{code_id}/revoke")
async def code_revoke(request: Request, code_id: int) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        enrolment.revoke_code(ctx.db, actor=ctx.actor(), code_id=code_id, now=ctx.now)
        ctx.flash(ctx.t("Code revoked: it enrols no more devices."))
        return Redirect("/admin/codes")

    return await act(request, action)


@router.post("/codes/{code_id}/retire-devices")
async def code_retire_devices(request: Request, code_id: int) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        n = enrolment.retire_code_devices(ctx.db, actor=ctx.actor(), code_id=code_id, now=ctx.now)
        ctx.flash(
            ctx.t.ngettext(
                "%(num)s device of this code retired.", "%(num)s devices of this code retired.", n
            )
        )
        return Redirect("/admin/codes")

    return await act(request, action)


@router.get("/users")
async def users_list(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        return Page("admin_users.html", admin_users.users_page(ctx.db, viewer=ctx.signed_in()))

    return await show(request, build)


@router.post("/users")
async def user_add(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        user = users.add_user(
            ctx.db,
            actor=ctx.actor(),
            username=form.text("username", limit=100, required=True),
            role=form.get("role"),
            password=form.get("password")[:1000],
            email=form.text("email", limit=200),
            now=ctx.now,
        )
        ctx.flash(ctx.t("User %(name)s added.", name=user.username))
        return Redirect("/admin/users")

    return await act(request, action)


@router.post("/users/{user_id}/tokens")
async def token_create(request: Request, user_id: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        user = users.school_user(ctx.db, actor=ctx.actor(), user_id=user_id)
        token = users.create_token(ctx.db, actor=ctx.actor(), user=user, now=ctx.now)
        ctx.flash(
            ctx.t(
                "New API token for %(name)s: %(token)s. It is not shown again.",
                name=user.username,
                token=token,
            )
        )
        return Redirect("/admin/users")

    return await act(request, action)


@router.post("/users/{user_id}/tokens/revoke")
async def tokens_revoke(request: Request, user_id: str) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        user = users.school_user(ctx.db, actor=ctx.actor(), user_id=user_id)
        n = users.revoke_tokens(ctx.db, actor=ctx.actor(), user=user, now=ctx.now)
        ctx.flash(ctx.t.ngettext("%(num)s token revoked.", "%(num)s tokens revoked.", n))
        return Redirect("/admin/users")

    return await act(request, action)


@router.post("/users/{user_id}/disabled")
async def user_disabled(request: Request, user_id: str) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        users.set_disabled(
            ctx.db,
            actor=ctx.actor(),
            user=users.school_user(ctx.db, actor=ctx.actor(), user_id=user_id),
            disabled=form.get("disabled") == "1",
            now=ctx.now,
        )
        ctx.flash(ctx.t("Saved."))
        return Redirect("/admin/users")

    return await act(request, action)


@router.get("/policy")
async def policy(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = admin_school.override_page(ctx.db, viewer=ctx.signed_in(), lang=ctx.lang)
        return Page("admin_policy.html", page)

    return await show(request, build)


@router.post("/policy")
async def policy_save(request: Request) -> Response:
    """``step=preview`` shows what the override would change and saves nothing; otherwise the
    override is saved (validated again by the one operation, which audits it)."""

    def action(ctx: Ctx, form: Form) -> Outcome:
        text, viewer = form.get("override"), ctx.signed_in()
        if form.get("step") == "preview":
            page = admin_school.preview_policy(ctx.db, viewer=viewer, text=text, lang=ctx.lang)
            return Page("admin_policy.html", page, status=422 if page["error"] else 200)
        page = admin_school.save_policy(
            ctx.db, viewer=viewer, text=text, now=ctx.now, lang=ctx.lang
        )
        if page["error"] is not None:
            return Page("admin_policy.html", page, status=422)
        ctx.flash(ctx.t("Policy saved and checked."))
        return Redirect("/policy")

    return await act(request, action)


@router.get("/school")
async def school(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = admin_school.school_page(ctx.db, viewer=ctx.signed_in())
        page |= groupchat_pages.school_setting(
            ctx.db, viewer=ctx.signed_in(), catalog=groupchats.shipped_catalog()
        )
        return Page("admin_school.html", page)

    return await show(request, build)


@router.post("/school")
async def school_save(request: Request) -> Response:
    low_days, high_days = school_settings.RETENTION_DAYS
    low_count, high_count = school_settings.SMALL_COUNT_THRESHOLD
    low_share, high_share = school_settings.ATTENTION_THRESHOLD

    def action(ctx: Ctx, form: Form) -> Outcome:
        admin_school.save_school(
            ctx.db,
            viewer=ctx.signed_in(),
            retention_days=form.integer("retention_days", low=low_days, high=high_days),
            audit_retention_days=form.integer(
                "audit_retention_days", low=purge.AUDIT_DAYS_MIN, high=purge.AUDIT_DAYS_MAX
            ),
            disclosure=form.get("disclosure"),
            admin_disclosure=form.get("admin_disclosure"),
            threshold=form.integer("small_count_threshold", low=low_count, high=high_count),
            # Optional, so a client that posts the settings of before issue 17 still saves them.
            attention_threshold=form.integer("attention_threshold", low=low_share, high=high_share)
            if form.get("attention_threshold").strip()
            else None,
            now=ctx.now,
        )
        ctx.flash(ctx.t("Settings saved."))
        return Redirect("/admin/school")

    return await act(request, action)


@router.get("/audit")
async def audit_log(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        filters = audit_pages.parse_filters(ctx.request.query_params)
        page = audit_pages.audit_log(ctx.db, viewer=ctx.signed_in(), filters=filters, t=ctx.t)
        return Page("admin_audit.html", page)

    return await show(request, build)


@router.post("/audit/export")
async def audit_export(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        fields = {name: form.get(name) for name in ("person", "action", "from", "to")}
        filters = audit_pages.parse_filters(fields)
        body = audit_pages.audit_csv(
            ctx.db, viewer=ctx.signed_in(), filters=filters, t=ctx.t, now=ctx.now
        )
        name = f"lessonwatch-audit-{ctx.now:%Y-%m-%d}.csv"
        return Download(body, "text/csv; charset=utf-8", name)

    return await act(request, action)


@router.get("/export")
async def export_form(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        access.require_role(ctx.signed_in(), access.ADMIN)
        today = ctx.now.date()
        return Page(
            "admin_export.html",
            {"first": today.replace(day=1).isoformat(), "last": today.isoformat()},
        )

    return await show(request, build)


@router.post("/export")
async def export_csv(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        first = admin_audit.parse_day(form.get("first"), "from")
        last = admin_audit.parse_day(form.get("last"), "to")
        body = admin_audit.export_csv(
            ctx.db, viewer=ctx.signed_in(), first=first, last=last, now=ctx.now
        )
        return Download(body, "text/csv; charset=utf-8", f"lessonwatch-{first}-{last}.csv")

    return await act(request, action)
