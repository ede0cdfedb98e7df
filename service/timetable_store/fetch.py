"""Fetching a feed or a Zermelo answer: bounded in size and time, secrets kept out of errors.

Standard library only (urllib): one GET per sync needs no HTTP client. A redirect is followed
only to a URL the source itself could have had (https, or http to this machine), so a redirect
cannot downgrade the token to plain http.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlencode

from service.errors import InvalidRequest
from service.timetable import TimetableError, read_bounded
from service.timetable.errors import InputTooLarge
from service.timetable_store.sources import check_url

TIMEOUT = 30.0
USER_AGENT = "lessonwatch-collector (timetable sync)"


class FetchFailed(Exception):
    """The source could not be fetched; the message holds no secret."""


@dataclass(frozen=True)
class Request:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[str] = ()  # scrubbed from any message
    name: str = "source"


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        try:
            check_url(newurl, "redirect")
        except InvalidRequest:
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to a URL that is not https", headers, fp
            ) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def scrub(message: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[secret]")
    return message


def fetch(
    request: Request, *, limit: int, timeout: float = TIMEOUT, total: float | None = None
) -> bytes:
    """The response body, at most ``limit`` bytes; FetchFailed says why in plain words.

    ``timeout`` bounds each wait on the socket; ``total`` (seconds), when given, bounds the body
    as a whole, so a server that drips a byte now and then cannot hold the caller either.
    """
    until = None if total is None else time.monotonic() + total
    opener = urllib.request.build_opener(_SafeRedirects())
    req = urllib.request.Request(
        request.url, headers={"User-Agent": USER_AGENT, **request.headers}, method="GET"
    )
    try:
        with opener.open(req, timeout=timeout) as response:
            if until is None:
                return read_bounded(response, limit, request.name)
            return _read_until(response, limit, request.name, until, total or 0.0)
    except TimetableError:
        raise  # too large: the sync reports it as refused, like any bad content
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the answer's connection open until closed
        raise FetchFailed(
            f"the server answered HTTP {exc.code} {scrub(str(exc.reason), request.secrets)}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        # ValueError: http.client refuses some URLs (InvalidURL) and quotes them in the message.
        reason = getattr(exc, "reason", exc)
        raise FetchFailed(f"could not fetch: {scrub(str(reason), request.secrets)[:200]}") from None


def _read_until(response: Any, limit: int, name: str, until: float, total: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > until:
            raise FetchFailed(f"the server took longer than {total:g} s to send the file")
        chunk = response.read1(65536)  # one read from the socket: at most ``timeout`` long
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise InputTooLarge(
                "the file is larger than the limit of %(limit)s bytes; nothing was read further",
                source=name,
                limit=format(limit, ","),
            )
        chunks.append(chunk)


def zermelo_request(
    portal: str, token: str, *, start: int, end: int, params: Mapping[str, str], name: str
) -> Request:
    """``GET /api/v3/appointments`` for [start, end) in Unix seconds, with the token as Bearer."""
    query = urlencode({"start": start, "end": end, "valid": "true", **params})
    return Request(
        url=f"{portal}/api/v3/appointments?{query}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        secrets=(token,),
        name=name,
    )


def feed_request(url: str, *, name: str) -> Request:
    return Request(url=url, headers={"Accept": "text/calendar"}, secrets=(url,), name=name)
