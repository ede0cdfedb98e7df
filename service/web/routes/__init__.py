"""The web pages' routes: each parses the request, calls one page builder or use case inside
``base.show`` or ``base.act`` (session, CSRF, language, errors) and renders the result."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.routes import (
    admin,
    auth,
    groupchats,
    lessons,
    privacy,
    timetable,
)


def router() -> APIRouter:
    top = APIRouter(include_in_schema=False)
    # The group-chat JSON API (groupchat_api) is not a page: create_app includes it with the
    # other APIs, in the OpenAPI schema.
    for module in (auth, lessons, groupchats, admin, privacy, timetable):
        top.include_router(module.router)
    return top
