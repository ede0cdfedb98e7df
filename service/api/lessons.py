"""Lesson reports for staff and their scripts, ``/api/v1/lessons/...``.

Authenticated with a personal API token (``lwu_...``), acting as that token's user; the report
page and ``lessonwatch-service report`` call the same operation, so they show the same numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from service.accounts import users
from service.actors import Actor
from service.api.schemas import ErrorBody, LessonReport
from service.reports.lesson_report import lesson_report
from service.runtime import Runtime, bearer_token, runtime

router = APIRouter(prefix="/api/v1/lessons", tags=["reports"])
RuntimeDep = Annotated[Runtime, Depends(runtime)]
LessonId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]{1,64}$")]


@router.get(
    "/{lesson_id}/report",
    response_model=LessonReport,
    responses={code: {"model": ErrorBody} for code in (401, 403, 404, 422)},
)
async def report(lesson_id: LessonId, request: Request, rt: RuntimeDep) -> dict[str, Any]:
    token = bearer_token(request)

    def work() -> dict[str, Any]:
        with rt.sessions.begin() as session:
            actor = Actor.of_user(users.user_for_token(session, token))
            return lesson_report(session, lesson_id=lesson_id, actor=actor, now=rt.clock())

    return await run_in_threadpool(work)
