"""Shapes of the group-chat register's JSON API, for the OpenAPI schema (docs/api.md).

They describe; they do not validate. A declared chat is validated by
``policies.groupchat.validate_chat``, which names every bad field in the user's language (the
``422 invalid_chat`` answer); the request models here say the same rules as JSON Schema so
clients and the fuzz test can build valid requests. The answer models forbid extra fields, so
an answer that grows a field the schema does not name fails the schema test.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policies.groupchat.chat import (
    AGE_RANGE,
    MAX_GROUP,
    MAX_PUPILS,
    PURPOSES,
    Account,
    Alternative,
    Purpose,
)
from service.groupchats import register as groupchats

_STRICT = ConfigDict(extra="forbid", strict=True)
_CLOSED = ConfigDict(extra="forbid")


def _platforms(schema: dict[str, Any]) -> None:
    # The shipped catalog decides which platforms exist; read when the schema is built.
    schema["enum"] = [p.id for p in groupchats.shipped_catalog()]


def _closed_platforms(schema: dict[str, Any]) -> None:
    closed = [p.id for p in groupchats.shipped_catalog().closed()]
    schema["anyOf"] = [{"type": "string", "enum": closed}, {"type": "null"}]
    schema.pop("type", None)


class ChatIn(BaseModel):
    """What a teacher declares about a class group chat: facts, never its content."""

    model_config = _STRICT
    group: str = Field(
        min_length=1,
        max_length=MAX_GROUP,
        description="the class, printable characters and not blank, e.g. 3B",
    )
    platform: str = Field(json_schema_extra=_platforms)
    account: Account
    purposes: list[Purpose] = Field(
        min_length=1, max_length=len(PURPOSES), json_schema_extra={"uniqueItems": True}
    )
    pupils_in_class: int = Field(ge=1, le=MAX_PUPILS)
    pupils_in_chat: int = Field(ge=0, le=MAX_PUPILS, description="at most pupils_in_class")
    youngest_age: int = Field(ge=AGE_RANGE[0], le=AGE_RANGE[1])
    parental_consent: bool
    alternative: Alternative


class ClosedPlatformIn(BaseModel):
    """The school's closed communication platform (admins), or null for none."""

    model_config = _STRICT
    closed_platform: str | None = Field(json_schema_extra=_closed_platforms)


class ChatFindingOut(BaseModel):
    model_config = _CLOSED
    code: str
    rule: str
    article: str
    severity: Literal["violation", "warning"]
    explanation: str = Field(description="in the user's language, or the one asked for")


class FlaggedChatOut(BaseModel):
    """A chat on the overview: everything but who registered it (the overview promises a
    leader no per-teacher view; the chat's own page names its owner)."""

    model_config = _CLOSED
    id: int
    group: str
    platform: str
    platform_name: str
    account: Account
    purposes: list[Purpose]
    pupils_in_class: int
    pupils_in_chat: int
    youngest_age: int
    parental_consent: bool
    alternative: Alternative
    created_at: str
    updated_at: str
    checked_at: str
    violations: int
    warnings: int
    findings: list[ChatFindingOut]
    may_edit: bool
    may_delete: bool


class ChatOut(FlaggedChatOut):
    owner: str


class ChatListOut(BaseModel):
    model_config = _CLOSED
    whole_school: bool
    chats: list[ChatOut]


class CodeCountOut(BaseModel):
    model_config = _CLOSED
    code: str
    article: str
    severity: Literal["violation", "warning"]
    label: str
    chats: int


class ArticleCountOut(BaseModel):
    model_config = _CLOSED
    article: str
    violations: int
    warnings: int


class ChatOverviewOut(BaseModel):
    model_config = _CLOSED
    closed_platform: str | None
    closed_platform_name: str | None
    chats: int
    chats_with_violations: int
    chats_with_warnings: int
    codes: list[CodeCountOut]
    articles: list[ArticleCountOut]
    flagged: list[FlaggedChatOut]


class ClosedPlatformOut(BaseModel):
    model_config = _CLOSED
    closed_platform: str | None
    rechecked: int = Field(description="how many chats were checked again")


class ChatErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = Field(
        default=None, description="invalid_chat only: one message per bad field"
    )


class ChatErrorBody(BaseModel):
    """``422``: ``invalid_chat`` with ``fields``, or ``invalid_request`` (a bad id) without."""

    error: ChatErrorDetail
