"""The group-chat register for scripts, ``/api/v1/groupchats`` (see docs/api.md).

Authenticated with a personal API token (``lwu_...``) like the lesson reports. A chat that does
not validate gets ``422 invalid_chat`` with one message per field (``error.fields``), in the
user's language or the one asked for with ``?lang=nl|en``.

Unlike the web pages these routes are in the served OpenAPI schema, with every status they
answer. Bodies are read by ``read_json`` after the token is checked (as on the agent API), so
they are declared with ``openapi_extra``, and their models are added to the schema's
components by ``create_app`` from ``DOCUMENTED_MODELS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from policies.groupchat import ChatInputError, validate_school
from policies.model import Lang
from service.accounts import users
from service.actors import Actor
from service.api.groupchat_schemas import (
    ChatErrorBody,
    ChatIn,
    ChatListOut,
    ChatOut,
    ChatOverviewOut,
    ClosedPlatformIn,
    ClosedPlatformOut,
)
from service.api.schemas import ErrorBody
from service.groupchats import register as groupchats
from service.http_body import read_json
from service.models import User
from service.runtime import Runtime, bearer_token, runtime
from service.web.i18n import DEFAULT, as_lang
from service.web.pages import groupchats as pages

router = APIRouter(prefix="/api/v1/groupchats", tags=["groupchats"])
RuntimeDep = Annotated[Runtime, Depends(runtime)]
ChatId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _lang_schema(schema: dict[str, Any]) -> None:
    # A query value is never null: the schema says what is meaningful, a string nl or en. Any
    # other value is ignored (the user's own language is used), as on the web pages.
    schema.pop("anyOf", None)
    schema.update(type="string", enum=["nl", "en"])


LangQuery = Annotated[
    str | None,
    Query(
        description="language of explanations and messages; else the user's own",
        json_schema_extra=_lang_schema,
    ),
]
T = TypeVar("T")

SECURITY_SCHEMES = {
    "personalToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "a personal API token (lwu_...), made with lessonwatch-service tokens",
    }
}
# Models referenced only from openapi_extra; create_app adds them to the components.
# ErrorBody too: the CSV export names it by reference (see _json_errors).
DOCUMENTED_MODELS = (ChatIn, ClosedPlatformIn, ErrorBody)


def _doc(body: str | None = None) -> dict[str, Any]:
    """The operation's security and, for a body read by hand, its request body."""
    extra: dict[str, Any] = {"security": [{"personalToken": []}]}
    if body is not None:
        ref = {"$ref": f"#/components/schemas/{body}"}
        content = {"application/json": {"schema": ref}}
        extra["requestBody"] = {"required": True, "content": content}
    return extra


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers, each with the body the service sends for it."""
    described: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        described[code] = {"model": ChatErrorBody if code == 422 else ErrorBody}
    return described


def _json_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error answers of a route whose own answer is not JSON: FastAPI would give a ``model``
    the route's media type, so the JSON body is named by reference instead."""
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        code: {"description": "Error", "content": {"application/json": {"schema": ref}}}
        for code in codes
    }


def _lang(asked: str | None, user: User) -> Lang:
    return as_lang(asked) or as_lang(user.lang) or DEFAULT


def _invalid(exc: ChatInputError, lang: Lang) -> JSONResponse:
    fields = exc.messages(lang)
    body = {
        "error": {
            "code": "invalid_chat",
            "message": " ".join(f"{k}: {v}" for k, v in fields.items()),
            "fields": fields,
        }
    }
    return JSONResponse(body, status_code=422)


class _Refused(Exception):
    """Carries a ChatInputError out of the transaction (rolling it back) with the language."""

    def __init__(self, error: ChatInputError, lang: Lang) -> None:
        super().__init__(str(error))
        self.error, self.lang = error, lang


async def _run(
    request: Request, rt: Runtime, work: Callable[[Session, User, Lang], T], lang: str | None
) -> T | JSONResponse:
    """Authenticate, then run ``work`` in one transaction; a ChatInputError rolls it back."""
    token = bearer_token(request)

    def job() -> T:
        with rt.sessions.begin() as session:
            viewer = users.user_for_token(session, token)
            chosen = _lang(lang, viewer)
            try:
                return work(session, viewer, chosen)
            except ChatInputError as exc:
                raise _Refused(exc, chosen) from None

    try:
        return await run_in_threadpool(job)
    except _Refused as refused:
        return _invalid(refused.error, refused.lang)


def _one(session: Session, viewer: User, row: Any, lang: Lang) -> dict[str, Any]:
    catalog = groupchats.shipped_catalog()
    return pages.chats_json(session, [row], viewer=viewer, catalog=catalog, lang=lang)[0]


@router.get(
    "",
    responses={200: {"model": ChatListOut}, **_errors(401, 403, 422)},
    openapi_extra=_doc(),
)
async def list_chats(request: Request, rt: RuntimeDep, lang: LangQuery = None) -> Any:
    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        return pages.register_page(
            session, viewer=viewer, catalog=groupchats.shipped_catalog(), now=rt.clock(), lang=lang
        )

    return await _run(request, rt, work, lang)


@router.post(
    "",
    status_code=201,
    responses={201: {"model": ChatOut}, **_errors(400, 401, 403, 409, 413, 422)},
    openapi_extra=_doc("ChatIn"),
)
async def create(request: Request, rt: RuntimeDep, lang: LangQuery = None) -> Any:
    bearer_token(request)  # refuse an anonymous body before reading it
    raw = await read_json(request, rt.settings.max_body_bytes)

    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        row = groupchats.register(
            session, viewer=viewer, raw=raw, catalog=groupchats.shipped_catalog(), now=rt.clock()
        )
        return _one(session, viewer, row, lang)

    result = await _run(request, rt, work, lang)
    return result if isinstance(result, Response) else JSONResponse(result, status_code=201)


@router.get(
    "/overview",
    responses={200: {"model": ChatOverviewOut}, **_errors(401, 403, 422)},
    openapi_extra=_doc(),
)
async def overview(request: Request, rt: RuntimeDep, lang: LangQuery = None) -> Any:
    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        return pages.overview_page(
            session, viewer=viewer, catalog=groupchats.shipped_catalog(), now=rt.clock(), lang=lang
        )

    return await _run(request, rt, work, lang)


class CsvResponse(Response):
    media_type = "text/csv"


@router.get(
    "/export.csv",
    response_class=CsvResponse,
    responses={
        200: {
            "description": "the register, one row per chat (leaders and admins)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="groupchats.csv"',
                    "schema": {"type": "string"},
                }
            },
        },
        **_json_errors(401, 403),
    },
    openapi_extra=_doc(),
)
async def export(request: Request, rt: RuntimeDep) -> Response:
    def work(session: Session, viewer: User, _lang: Lang) -> bytes:
        return pages.export_csv(
            session, viewer=viewer, catalog=groupchats.shipped_catalog(), now=rt.clock()
        )

    body = await _run(request, rt, work, None)
    if isinstance(body, Response):
        return body
    return CsvResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="groupchats.csv"'},
    )


@router.put(
    "/school",
    responses={200: {"model": ClosedPlatformOut}, **_errors(400, 401, 403, 413, 422)},
    openapi_extra=_doc("ClosedPlatformIn"),
)
async def school(request: Request, rt: RuntimeDep, lang: LangQuery = None) -> Any:
    bearer_token(request)
    raw = await read_json(request, rt.settings.max_body_bytes)

    def work(session: Session, viewer: User, _lang: Lang) -> dict[str, Any]:
        groupchats.school_for(session, viewer, ("admin",))
        catalog = groupchats.shipped_catalog()
        setting = validate_school(raw, catalog)
        rechecked = groupchats.set_closed_platform(
            session,
            actor=Actor.of_user(viewer),
            closed_platform=setting.closed_platform,
            catalog=catalog,
            now=rt.clock(),
        )
        return {"closed_platform": setting.closed_platform, "rechecked": rechecked}

    return await _run(request, rt, work, lang)


@router.get(
    "/{chat_id}",
    responses={200: {"model": ChatOut}, **_errors(401, 403, 404, 422)},
    openapi_extra=_doc(),
)
async def read(chat_id: ChatId, request: Request, rt: RuntimeDep, lang: LangQuery = None) -> Any:
    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        row = groupchats.get(
            session,
            viewer=viewer,
            chat_id=chat_id,
            catalog=groupchats.shipped_catalog(),
            now=rt.clock(),
        )
        return _one(session, viewer, row, lang)

    return await _run(request, rt, work, lang)


@router.put(
    "/{chat_id}",
    responses={200: {"model": ChatOut}, **_errors(400, 401, 403, 404, 409, 413, 422)},
    openapi_extra=_doc("ChatIn"),
)
async def change(chat_id: ChatId, request: Request, rt: RuntimeDep, lang: LangQuery = None) -> Any:
    bearer_token(request)
    raw = await read_json(request, rt.settings.max_body_bytes)

    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        row = groupchats.update(
            session,
            viewer=viewer,
            chat_id=chat_id,
            raw=raw,
            catalog=groupchats.shipped_catalog(),
            now=rt.clock(),
        )
        return _one(session, viewer, row, lang)

    return await _run(request, rt, work, lang)


@router.delete(
    "/{chat_id}",
    status_code=204,
    responses=_errors(401, 403, 404, 422),
    openapi_extra=_doc(),
)
async def remove(chat_id: ChatId, request: Request, rt: RuntimeDep) -> Response:
    def work(session: Session, viewer: User, _lang: Lang) -> None:
        groupchats.delete(session, viewer=viewer, chat_id=chat_id, now=rt.clock())

    result = await _run(request, rt, work, None)
    return result if isinstance(result, Response) else Response(status_code=204)
