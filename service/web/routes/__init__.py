"""The web pages' routes: each parses the request, calls one page builder or use case inside
``base.show`` or ``base.act`` (session, CSRF, language, errors) and renders the result."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.routes import (
    admin,
    auth,
    groupchat_api,
    groupchats,
    lessons,
    privacy,
    timetable,
)


def router() -> APIRouter:
    top = APIRouter(include_in_schema=False)
    for module in (auth, lessons, groupchats, admin, privacy, groupchat_api, timetable):
        top.include_router(module.router)
    return top
