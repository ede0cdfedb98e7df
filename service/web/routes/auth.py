"""Sign-in (password and school SSO), sign-out and the language choice."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service import audit, credentials
from service.actors import Actor
from service.errors import InvalidRequest, RateLimited
from service.ratelimit import Limiter
from service.runtime import Runtime
from service.web import oidc, signin, websessions
from service.web.forms import Form, read_form
from service.web.i18n import as_lang
from service.web.routes.base import (
    Ctx,
    Outcome,
    Page,
    Redirect,
    act,
    refuse,
    show,
    web_settings,
)

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only a local path: an open redirect would let a phishing link borrow our sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/lessons"
    if len(value) > 300 or any(c in value for c in "\r\n\t"):
        return "/lessons"
    return value


def signin_page(ctx: Ctx, problem: str | None = None, username: str = "") -> dict[str, Any]:
    return {
        "problem": ctx.t(problem) if problem else None,
        "username": username,
        "next": safe_next(ctx.request.query_params.get("next")),
        "sso": ctx.web.oidc_label if ctx.web.oidc_enabled else None,
        "demo": ctx.web.demo,
    }


@router.get("/")
async def home(request: Request) -> Response:
    return await show(
        request, lambda ctx: Redirect("/lessons" if ctx.user else "/signin"), public=True
    )


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        return Page("signin.html", signin_page(ctx))

    return await show(request, build, public=True, want_session=True)


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    checked: list[signin.Checked] = []

    def check(form: Form) -> signin.Checked:
        rt: Runtime = request.app.state.runtime
        client = request.client.host if request.client else ""
        limiter: Limiter = request.app.state.signin_limiter
        wait = limiter.check(client, rt.monotonic())
        if wait:
            raise RateLimited(
                "too many sign-in attempts from this address; wait a minute and try again",
                retry_after=wait,
            )
        return signin.check_password(
            rt.sessions,
            username=form.get("username")[:200],
            password=form.get("password"),
            address=client,
            now=rt.clock(),
            throttle=request.app.state.signin_throttle,
            verifier=request.app.state.password_verifier,
        )

    async def read_and_check(req: Request) -> Form:
        # The slow check runs here, before act's transaction: see signin.check_password.
        form = await read_form(req, web_settings(req).max_form_bytes)
        checked.append(await run_in_threadpool(check, form))
        return form

    def action(ctx: Ctx, form: Form) -> Outcome:
        result = signin.password_sign_in(ctx.db, checked=checked[0], now=ctx.now, settings=ctx.web)
        if result.user is None:
            page = signin_page(ctx, result.problem, checked[0].username[:100])
            page["next"] = safe_next(form.get("next"))
            return Page("signin.html", page, status=401)
        # Expired sessions are swept here: sign-ins are frequent enough, and no job is needed.
        websessions.purge_expired(ctx.db, now=ctx.now)
        ctx.replace_session(result.user)
        ctx.lang = as_lang(result.user.lang) or ctx.lang
        return Redirect(safe_next(form.get("next")))

    verifier: credentials.BoundedVerifier = request.app.state.password_verifier
    try:
        # Admitted before the form is read: a flood of sign-ins beyond the password checks'
        # queue is refused at once and costs no hash, thread or connection (issue 14).
        with verifier.admitted():
            return await act(request, action, public=True, read=read_and_check)
    except RateLimited as exc:
        return await refuse(request, exc)


@router.post("/signout")
async def signout(request: Request) -> Response:
    def action(ctx: Ctx, _form: Form) -> Outcome:
        if ctx.ws is not None:
            if ctx.user is not None:
                audit.record(
                    ctx.db,
                    actor=Actor.of_user(ctx.user),
                    school_id=ctx.user.school_id,
                    action="signout",
                    obj=None,
                    now=ctx.now,
                )
            websessions.end(ctx.db, ctx.ws)
            ctx.ws = None
        ctx.end_session = True
        return Redirect("/signin")

    return await act(request, action, public=True)


@router.post("/account/lang")
async def set_language(request: Request) -> Response:
    def action(ctx: Ctx, form: Form) -> Outcome:
        lang = as_lang(form.get("lang"))
        if lang is None:
            raise InvalidRequest("lang must be nl or en")
        ctx.signed_in().lang = lang
        return Redirect(safe_next(form.get("next")))

    return await act(request, action)


@router.get("/auth/oidc/start")
async def oidc_start(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        if not ctx.web.oidc_enabled:
            raise InvalidRequest("school sign-in is not configured")
        try:
            url, pending = oidc.start(ctx.web, ctx.now)
        except oidc.OidcError as exc:
            problem = ctx.t.message(
                "Signing in with the school account failed: %(reason)s", {"reason": exc}
            )
            return Page("signin.html", signin_page(ctx) | {"problem": problem}, status=502)
        pending["next"] = safe_next(ctx.request.query_params.get("next"))
        websessions.set_data(ctx.ensure_session(), oidc=pending)
        return Redirect(url)

    return await show(request, build, public=True)


@router.get("/auth/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    def build(ctx: Ctx) -> Outcome:
        ws = ctx.ensure_session()
        pending = websessions.pop_data(ws, "oidc")
        params = ctx.request.query_params
        try:
            claims = oidc.finish(
                ctx.web, pending, code=params.get("code"), state=params.get("state"), now=ctx.now
            )
        except oidc.OidcError as exc:
            audit.record(
                ctx.db,
                actor="oidc",
                school_id=None,  # nobody was recognised, so no school's log holds it
                action="signin.sso_failed",
                obj=None,
                now=ctx.now,
                reason=str(exc)[:500],
            )
            return Page(
                "signin.html",
                signin_page(ctx, None)
                | {
                    "problem": ctx.t.message(
                        "Signing in with the school account failed: %(reason)s", {"reason": exc}
                    )
                },
                status=401,
            )
        school = oidc.configured_school(ctx.db, ctx.web)
        user, linked = oidc.user_for_claims(ctx.db, claims, school=school)
        if user is None or user.disabled or (user.demo and not ctx.web.demo):
            audit.record(
                ctx.db,
                actor="oidc",
                school_id=user.school_id if user else None,
                action="signin.sso_unknown",
                obj=None,
                now=ctx.now,
            )
            return Page("signin.html", signin_page(ctx, "signin.sso_unknown"), status=403)
        audit.record(
            ctx.db,
            actor=Actor.of_user(user),
            school_id=user.school_id,
            action="signin",
            obj="oidc",
            now=ctx.now,
            # The first SSO sign-in binds the account to the provider's subject: kept in the log.
            reason="linked by verified e-mail" if linked else None,
        )
        ctx.replace_session(user)
        return Redirect(safe_next(pending.get("next") if isinstance(pending, dict) else None))

    return await show(request, build, public=True)
