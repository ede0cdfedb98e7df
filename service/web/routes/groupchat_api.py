"""The group-chat register for scripts, ``/api/v1/groupchats`` (see docs/api.md).

Authenticated with a personal API token (``lwu_...``) like the lesson reports. A chat that does
not validate gets ``422 invalid_chat`` with one message per field (``error.fields``), in the
user's language or the one asked for with ``?lang=nl|en``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from policies.groupchat import ChatInputError, validate_school
from policies.model import Lang
from service import groupchats, users
from service.http_body import read_json
from service.models import User
from service.runtime import Runtime, bearer_token, runtime
from service.web.i18n import DEFAULT, as_lang
from service.web.pages import groupchats as pages

router = APIRouter(prefix="/api/v1/groupchats", include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(runtime)]
ChatId = Annotated[int, Path(ge=1, le=2**31 - 1)]
T = TypeVar("T")


def _lang(request: Request, user: User) -> Lang:
    return as_lang(request.query_params.get("lang")) or as_lang(user.lang) or DEFAULT


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
    request: Request, rt: Runtime, work: Callable[[Session, User, Lang], T]
) -> T | JSONResponse:
    """Authenticate, then run ``work`` in one transaction; a ChatInputError rolls it back."""
    token = bearer_token(request)

    def job() -> T:
        with rt.sessions.begin() as session:
            viewer = users.user_for_token(session, token)
            lang = _lang(request, viewer)
            try:
                return work(session, viewer, lang)
            except ChatInputError as exc:
                raise _Refused(exc, lang) from None

    try:
        return await run_in_threadpool(job)
    except _Refused as refused:
        return _invalid(refused.error, refused.lang)


def _one(session: Session, viewer: User, row: Any, lang: Lang) -> dict[str, Any]:
    catalog = groupchats.shipped_catalog()
    return pages.chats_json(session, [row], viewer=viewer, catalog=catalog, lang=lang)[0]


@router.get("")
async def list_chats(request: Request, rt: RuntimeDep) -> Any:
    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        page = pages.register_page(
            session, viewer=viewer, catalog=groupchats.shipped_catalog(), now=rt.clock(), lang=lang
        )
        return page

    return await _run(request, rt, work)


@router.post("", status_code=201)
async def create(request: Request, rt: RuntimeDep) -> Any:
    bearer_token(request)  # refuse an anonymous body before reading it
    raw = await read_json(request, rt.settings.max_body_bytes)

    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        row = groupchats.register(
            session, viewer=viewer, raw=raw, catalog=groupchats.shipped_catalog(), now=rt.clock()
        )
        return _one(session, viewer, row, lang)

    result = await _run(request, rt, work)
    return result if isinstance(result, Response) else JSONResponse(result, status_code=201)


@router.get("/overview")
async def overview(request: Request, rt: RuntimeDep) -> Any:
    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        return pages.overview_page(
            session, viewer=viewer, catalog=groupchats.shipped_catalog(), now=rt.clock(), lang=lang
        )

    return await _run(request, rt, work)


@router.get("/export.csv")
async def export(request: Request, rt: RuntimeDep) -> Any:
    def work(session: Session, viewer: User, _lang: Lang) -> bytes:
        return pages.export_csv(
            session, viewer=viewer, catalog=groupchats.shipped_catalog(), now=rt.clock()
        )

    body = await _run(request, rt, work)
    if isinstance(body, Response):
        return body
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="groupchats.csv"'},
    )


@router.put("/school")
async def school(request: Request, rt: RuntimeDep) -> Any:
    bearer_token(request)
    raw = await read_json(request, rt.settings.max_body_bytes)

    def work(session: Session, viewer: User, _lang: Lang) -> dict[str, Any]:
        groupchats.school_for(session, viewer, ("admin",))
        catalog = groupchats.shipped_catalog()
        setting = validate_school(raw, catalog)
        rechecked = groupchats.set_closed_platform(
            session,
            viewer=viewer,
            closed_platform=setting.closed_platform,
            catalog=catalog,
            now=rt.clock(),
        )
        return {"closed_platform": setting.closed_platform, "rechecked": rechecked}

    return await _run(request, rt, work)


@router.get("/{chat_id}")
async def read(chat_id: ChatId, request: Request, rt: RuntimeDep) -> Any:
    def work(session: Session, viewer: User, lang: Lang) -> dict[str, Any]:
        row = groupchats.get(
            session,
            viewer=viewer,
            chat_id=chat_id,
            catalog=groupchats.shipped_catalog(),
            now=rt.clock(),
        )
        return _one(session, viewer, row, lang)

    return await _run(request, rt, work)


@router.put("/{chat_id}")
async def change(chat_id: ChatId, request: Request, rt: RuntimeDep) -> Any:
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

    return await _run(request, rt, work)


@router.delete("/{chat_id}", status_code=204)
async def remove(chat_id: ChatId, request: Request, rt: RuntimeDep) -> Response:
    def work(session: Session, viewer: User, _lang: Lang) -> None:
        groupchats.delete(session, viewer=viewer, chat_id=chat_id, now=rt.clock())

    result = await _run(request, rt, work)
    return result if isinstance(result, Response) else Response(status_code=204)
