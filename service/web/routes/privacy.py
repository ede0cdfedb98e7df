"""What lessonwatch checks: the public page (no sign-in), in Dutch or English, and the school's
effective policy in words for its staff (``/policy``; admins change it at ``/admin/policy``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.web.pages import admin_school
from service.web.pages.privacy import privacy_page
from service.web.routes.base import Ctx, Outcome, Page, show

router = APIRouter()


@router.get("/privacy")
async def privacy(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        school = ctx.request.query_params.get("school")
        viewer = ctx.user.school_id if ctx.user is not None else None
        page = privacy_page(ctx.db, school_name=school, lang=ctx.lang, viewer_school=viewer)
        return Page("privacy.html", page)

    return await show(request, build, public=True)


@router.get("/policy")
async def policy(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        page = admin_school.policy_page(ctx.db, viewer=ctx.signed_in(), lang=ctx.lang)
        return Page("admin_policy.html", page)

    return await show(request, build)
