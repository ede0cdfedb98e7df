"""Reading a JSON request body with a size cap, after authentication has already passed.

The agent routes read their body here instead of declaring it as a FastAPI parameter, because
FastAPI reads a declared body before it runs dependencies: a device token must be checked
first, and an oversized body must be refused without being held in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from service.errors import BodyTooLarge, InvalidJson


async def read_json(request: Request, limit: int) -> Any:
    return await read_json_chunks(request.headers.get("content-length"), request.stream(), limit)


async def read_json_chunks(declared: str | None, chunks: AsyncIterator[bytes], limit: int) -> Any:
    """The JSON value of a body arriving in ``chunks``, whose Content-Length header said
    ``declared``; BodyTooLarge past ``limit`` bytes (before reading any, if it said so)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge("the body is larger than %(limit)s bytes", limit=limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge("the body is larger than %(limit)s bytes", limit=limit)
        parts.append(chunk)
    try:
        return _DECODER.decode(b"".join(parts).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidJson("the body is not valid UTF-8 JSON") from None


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """A request body's chunks from its ASGI messages, as ``Request.stream`` yields them for a
    route that has no ``Request``; ClientDisconnect if the client leaves before the end."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(name)


# One decoder for every body: ``json.loads`` with an option builds a new one each call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
