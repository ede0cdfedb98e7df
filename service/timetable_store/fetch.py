"""Fetching a feed or a Zermelo answer: bounded in size and time, secrets kept out of errors.

Standard library only (urllib): one GET per sync needs no HTTP client. A redirect is followed
only to a URL the source itself could have had (https, or http to this machine), so a redirect
cannot downgrade the token to plain http. Every connection, the first and each redirect's, goes
to an address ``outbound`` checked (no internal addresses unless the host is allowed). Errors
name the status or a reason of our own, never text from the answer: an internal server's
answer must not reach the admin who typed the URL.
"""

from __future__ import annotations

import http
import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlencode

from service.errors import InvalidRequest
from service.timetable import TimetableError, read_bounded
from service.timetable.errors import InputTooLarge
from service.timetable_store import outbound
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
            fp.close()
            raise FetchFailed("the server redirected to a URL that is not https") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def scrub(message: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[secret]")
    return message


def fetch(
    request: Request,
    *,
    limit: int,
    allow: Collection[str],
    timeout: float = TIMEOUT,
    total: float | None = None,
) -> bytes:
    """The response body, at most ``limit`` bytes; FetchFailed says why in plain words.

    ``allow`` lists the hosts that may be internal (``Settings.allowed_fetch_hosts``).
    ``timeout`` bounds each wait on the socket; ``total`` (seconds), when given, bounds the body
    as a whole, so a server that drips a byte now and then cannot hold the caller either.
    """
    until = None if total is None else time.monotonic() + total
    opener = urllib.request.build_opener(*outbound.handlers(allow), _SafeRedirects())
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
        raise FetchFailed(f"the server answered HTTP {exc.code} {_phrase(exc.code)}") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise FetchFailed(f"could not fetch: {_reason(getattr(exc, 'reason', exc))}") from None


def _phrase(code: int) -> str:
    # The standard phrase, not the server's: its reason line is the answer's text.
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def _reason(reason: object) -> str:
    """Our own words for why a fetch failed: nothing the server sent, and not the URL."""
    if isinstance(reason, outbound.Refused):
        return "the host is on this machine or an internal network (see fetch_allow_hosts)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out: the server did not answer in time"
    if isinstance(reason, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(reason, http.client.HTTPException):
        return "the answer is not valid HTTP"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return "the connection failed"


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
