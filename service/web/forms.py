"""Reading an HTML form body (``application/x-www-form-urlencoded``) with a size cap.

Forms are read here rather than declared as FastAPI parameters, so a missing or malformed field
gets the page's own clear message instead of a framework error, and an oversized body is
refused before it is held in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from starlette.requests import Request

from service.errors import BodyTooLarge, InvalidRequest, ServiceError

MAX_FIELDS = 200


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class Form:
    """The fields of one form; every value is text, repeated fields are kept in order."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def text(self, name: str, *, limit: int, required: bool = False) -> str:
        value = self.get(name).strip()
        if required and not value:
            raise InvalidRequest("%(name)s is required", name=name)
        if len(value) > limit:
            raise InvalidRequest(
                "%(name)s may be at most %(limit)s characters", name=name, limit=limit
            )
        return value

    def integer(self, name: str, *, low: int, high: int) -> int:
        raw = self.get(name).strip()
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise InvalidRequest(
                "%(name)s must be a whole number from %(low)s to %(high)s",
                name=name,
                low=low,
                high=high,
            )
        return int(raw)


async def read_form(request: Request, limit: int) -> Form:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("send the form as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge("the form is larger than %(limit)s bytes", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge("the form is larger than %(limit)s bytes", limit=limit)
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise InvalidRequest("the form is not valid UTF-8") from None
    except ValueError:
        raise InvalidRequest("a form may have at most %(limit)s fields", limit=MAX_FIELDS) from None
    if any("\x00" in v for values in fields.values() for v in values):
        raise InvalidRequest("the form contains a NUL character")
    return Form(fields)
