"""Reading a JSON request body with a size cap, after authentication has already passed.

The agent routes read their body here instead of declaring it as a FastAPI parameter, because
FastAPI reads a declared body before it runs dependencies: a device token must be checked
first, and an oversized body must be refused without being held in memory.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from service.errors import BodyTooLarge, InvalidJson


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge("the body is larger than %(limit)s bytes", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge("the body is larger than %(limit)s bytes", limit=limit)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidJson("the body is not valid UTF-8 JSON") from None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(name)
