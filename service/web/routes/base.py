"""What every web route shares: the browser session, the signed-in user, the language, CSRF,
flash messages, and the mapping of errors to a page (or to JSON for ``Accept: application/json``).

``show`` runs a page builder in one transaction; ``act`` handles a form POST: it reads the form,
checks the CSRF token against the session (403 and nothing changed when it is missing or
wrong), runs the action and answers with a redirect or a page. A failing action rolls back.

An error page is in the reader's language, with the navigation and the signed-in user of any
other page: the error's message id is translated there (``Translate.error``), while the JSON
answer keeps the stable ``code`` and the English ``message``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from policies.model import Lang
from service import access
from service.access import Ability
from service.actors import Actor
from service.errors import Forbidden, RateLimited, ServiceError, Unauthorized
from service.locale import N_
from service.models import School, User, WebSession
from service.runtime import Runtime
from service.web import websessions
from service.web.forms import Form, read_form
from service.web.i18n import DEFAULT, Translate, as_lang, labels, translator
from service.web.render import render, wants_json
from service.web.settings import WebSettings

SESSION_COOKIE = "lw_session"
LANG_COOKIE = "lw_lang"


@dataclass
class Ctx:
    request: Request
    rt: Runtime
    web: WebSettings
    db: Session
    now: datetime
    ws: WebSession | None
    user: User | None
    lang: Lang
    new_token: str | None = None
    end_session: bool = False

    @property
    def t(self) -> Translate:
        """The reader's catalog: ``ctx.t("Saved.")``, ``ctx.t.ngettext(...)``."""
        return translator(self.lang)

    def flash(self, text: str) -> None:
        """Show ``text`` (already translated: ``ctx.flash(ctx.t("Saved."))``) on the next page."""
        if self.ws is not None:
            websessions.set_data(self.ws, flash=text)

    def signed_in(self) -> User:
        if self.user is None:
            raise Unauthorized("sign in first")
        return self.user

    def actor(self) -> Actor:
        """The signed-in user as the actor of an operation (401 when nobody is signed in)."""
        return Actor.of_user(self.signed_in())

    def ensure_session(self) -> WebSession:
        if self.ws is None:
            self.new_token, self.ws = websessions.start(
                self.db, user=None, now=self.now, minutes=self.web.session_minutes
            )
        return self.ws

    def replace_session(self, user: User | None, data: dict[str, Any] | None = None) -> None:
        if self.ws is not None:
            websessions.end(self.db, self.ws)
        self.new_token, self.ws = websessions.start(
            self.db, user=user, now=self.now, minutes=self.web.session_minutes, data=data
        )
        self.user = user


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Page:
    template: str
    data: dict[str, Any]
    status: int = 200


@dataclass(frozen=True)
class Download:
    body: bytes
    media_type: str
    filename: str


Outcome = Redirect | Page | Download


@dataclass
class _Done:
    outcome: Outcome
    chrome: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    end: bool = False


def web_settings(request: Request) -> WebSettings:
    value: WebSettings = request.app.state.web_settings
    return value


def _env(request: Request, lang: Lang) -> Environment:
    value: dict[Lang, Environment] = request.app.state.web_templates
    return value[lang]


def _load(request: Request, db: Session, rt: Runtime, web: WebSettings) -> Ctx:
    now = rt.clock()
    ws = websessions.load(
        db, request.cookies.get(SESSION_COOKIE), now=now, minutes=web.session_minutes
    )
    user = db.get(User, ws.user_id) if ws is not None and ws.user_id is not None else None
    if ws is not None and user is not None and user.disabled:
        websessions.end(db, ws)
        ws, user = None, None
    lang = (
        as_lang(user.lang if user else None)
        or as_lang(request.query_params.get("lang"))
        or as_lang(request.cookies.get(LANG_COOKIE))
        or DEFAULT
    )
    return Ctx(request, rt, web, db, now, ws, user, lang)


def nav(ctx: Ctx) -> list[dict[str, Any]]:
    """The pages the signed-in user may open, each shown by the ability its page requires
    (``service.access``), so the menu and the pages never disagree."""
    actor = ctx.actor() if ctx.user else None
    items: list[tuple[str, str, Ability]] = [
        ("/lessons", N_("Lessons"), Ability.STAFF_PAGES),
        ("/attention", N_("Attention"), Ability.SCHOOL_OVERVIEW),
        ("/groupchats", N_("Group chats"), Ability.STAFF_PAGES),
        ("/admin/devices", N_("Devices"), Ability.MANAGE_DEVICES),
        ("/admin/codes", N_("Enrolment codes"), Ability.ENROL_DEVICES),
        ("/admin/users", N_("Users"), Ability.ADMINISTER),
        ("/policy", N_("Policy"), Ability.STAFF_PAGES),
        ("/admin/school", N_("School settings"), Ability.ADMINISTER),
        ("/admin/audit", N_("Audit log"), Ability.ADMINISTER),
        ("/admin/export", N_("Export"), Ability.ADMINISTER),
        ("/admin/timetable", N_("Timetable"), Ability.ADMINISTER),
    ]
    path = ctx.request.url.path
    return [
        {"href": href, "label": ctx.t(msgid), "current": bool(href) and path.startswith(href)}
        for href, msgid, ability in items
        if actor is not None and access.may(actor, ability)
    ]


def chrome(ctx: Ctx, *, flash: bool = True) -> dict[str, Any]:
    """What every page shows around its content; ``flash=False`` leaves a flash for later."""
    school = ctx.db.get(School, ctx.user.school_id) if ctx.user else None
    shown = websessions.pop_data(ctx.ws, "flash") if ctx.ws is not None and flash else None
    return {
        "lang": ctx.lang,
        "other_lang": "en" if ctx.lang == "nl" else "nl",
        "user": {
            "name": ctx.user.username,
            "role": ctx.user.role,
            "role_label": ctx.t(labels.label(labels.ROLES, ctx.user.role)),
        }
        if ctx.user
        else None,
        "school": school.name if school else None,
        # The school's IANA zone: templates show times in it (service.web.render's filters).
        "zone": school.timezone if school else None,
        "csrf": ctx.ws.csrf if ctx.ws is not None else "",
        "nav": nav(ctx),
        "flash": shown,
        "path": ctx.request.url.path,
    }


def _cookies(request: Request, response: Response, done: _Done) -> Response:
    web = web_settings(request)
    secure = web.secure_cookies or request.url.scheme == "https"
    if done.token is not None:
        response.set_cookie(
            SESSION_COOKIE,
            done.token,
            max_age=web.session_minutes * 60,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
        )
    elif done.end:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    lang = request.query_params.get("lang")
    if as_lang(lang) and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(
            LANG_COOKIE, str(lang), max_age=365 * 86400, samesite="lax", secure=secure, path="/"
        )
    return response


def _answer(request: Request, done: _Done) -> Response:
    outcome = done.outcome
    response: Response
    if isinstance(outcome, Redirect):
        if wants_json(request):
            response = JSONResponse({"ok": True, "location": outcome.url})
        else:
            response = RedirectResponse(outcome.url, status_code=303)
    elif isinstance(outcome, Download):
        response = Response(
            outcome.body,
            media_type=outcome.media_type,
            headers={"Content-Disposition": f'attachment; filename="{outcome.filename}"'},
        )
    else:
        env = _env(request, done.chrome.get("lang", DEFAULT))
        response = render(request, env, outcome.template, outcome.data, done.chrome, outcome.status)
    response.headers["Cache-Control"] = "no-store"
    return _cookies(request, response, done)


def _error_chrome(request: Request) -> dict[str, Any]:
    """The chrome of the reader's pages (language, navigation, user) for an error page; read in
    a transaction of its own, since the failed one was rolled back. The flash is left in place."""
    rt: Runtime = request.app.state.runtime
    with rt.sessions.begin() as db:
        return chrome(_load(request, db, rt, web_settings(request)), flash=False)


async def refuse(request: Request, exc: ServiceError) -> Response:
    """The error page (or JSON) for a request refused before its action ran."""
    return await _error(request, exc)


async def _error(request: Request, exc: ServiceError) -> Response:
    if isinstance(exc, Unauthorized) and not wants_json(request):
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/signin?next={target}", status_code=303)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
    if wants_json(request):
        # The API's contract: the stable code, and the message in English.
        body = {"error": {"code": exc.code, "message": exc.message}}
        return JSONResponse(body, status_code=exc.status, headers=headers)
    shown = await run_in_threadpool(_error_chrome, request)
    lang: Lang = shown["lang"]
    page = {"status": exc.status, "code": exc.code, "message": translator(lang).error(exc)}
    response = render(request, _env(request, lang), "error.html", page, shown, exc.status)
    response.headers.update({"Cache-Control": "no-store", **headers})
    return response


async def show(
    request: Request,
    build: Callable[[Ctx], Outcome],
    *,
    public: bool = False,
    want_session: bool = False,
) -> Response:
    """Answer a GET: ``build`` returns the page (or a redirect) from the context."""
    rt: Runtime = request.app.state.runtime
    web = web_settings(request)

    def work() -> _Done:
        with rt.sessions.begin() as db:
            ctx = _load(request, db, rt, web)
            if not public:
                ctx.signed_in()
            if want_session:
                ctx.ensure_session()
            outcome = build(ctx)
            shown = chrome(ctx) if isinstance(outcome, Page) else {}
            return _Done(outcome, shown, ctx.new_token)

    try:
        done = await run_in_threadpool(work)
    except ServiceError as exc:
        return await _error(request, exc)
    return _answer(request, done)


async def act(
    request: Request,
    action: Callable[[Ctx, Form], Outcome],
    *,
    public: bool = False,
    read: Callable[[Request], Awaitable[Form]] | None = None,
) -> Response:
    """Answer a form POST: CSRF first, then ``action``; any error leaves the database as it was.

    ``read`` reads another kind of form (a file upload); the default is a urlencoded form.
    """
    rt: Runtime = request.app.state.runtime
    web = web_settings(request)
    try:
        form = await (read(request) if read else read_form(request, web.max_form_bytes))
    except ServiceError as exc:
        return await _error(request, exc)

    def work() -> _Done:
        with rt.sessions.begin() as db:
            ctx = _load(request, db, rt, web)
            if not websessions.csrf_ok(ctx.ws, form.get("csrf")):
                raise Forbidden(
                    "The form has expired or did not come from this site. Reload the page and "
                    "try again. Nothing was changed."
                )
            if not public:
                ctx.signed_in()
            outcome = action(ctx, form)
            # Only a page shows the chrome: taking it would consume a flash meant for the redirect.
            shown = chrome(ctx) if isinstance(outcome, Page) else {}
            return _Done(outcome, shown, ctx.new_token, ctx.end_session)

    try:
        done = await run_in_threadpool(work)
    except ServiceError as exc:
        return await _error(request, exc)
    return _answer(request, done)
