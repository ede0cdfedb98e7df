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
            raise InvalidRequest(f"{name} is required")
        if len(value) > limit:
            raise InvalidRequest(f"{name} may be at most {limit} characters")
        return value

    def integer(self, name: str, *, low: int, high: int) -> int:
        raw = self.get(name).strip()
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise InvalidRequest(f"{name} must be a whole number from {low} to {high}")
        return int(raw)


async def read_form(request: Request, limit: int) -> Form:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("send the form as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the form is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the form is larger than {limit} bytes")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise InvalidRequest("the form is not valid UTF-8") from None
    except ValueError:
        raise InvalidRequest(f"a form may have at most {MAX_FIELDS} fields") from None
    if any("\x00" in v for values in fields.values() for v in values):
        raise InvalidRequest("the form contains a NUL character")
    return Form(fields)
