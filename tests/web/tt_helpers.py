"""Helpers for the timetable page tests: a small calendar in the demo school's coming week,
multipart uploads with the page's CSRF token, and waiting for an upload's background work."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import requests

from tests.support.web import NOW, TIMEOUT, Browser

# The demo's NOW is Tuesday 24 November 2026; next week's Monday is 30 November.
MONDAY = date(2026, 11, 30)
WEEK = MONDAY.isoformat()


def calendar_bytes(*events: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//lessonwatch tests//EN"]
    for body in events:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def weekly(uid: str, at: str = "0830", summary: str = "wi - 4A - devries", count: int = 2) -> str:
    """A lesson every Monday from ``MONDAY`` on, 50 minutes, in Amsterdam time."""
    end = (
        f"{int(at[:2]):02d}{int(at[2:]) + 50:02d}"
        if int(at[2:]) < 10
        else f"{int(at[:2]) + 1:02d}{int(at[2:]) - 10:02d}"
    )
    return f"""UID:{uid}
DTSTART;TZID=Europe/Amsterdam:{MONDAY:%Y%m%d}T{at}00
DTEND;TZID=Europe/Amsterdam:{MONDAY:%Y%m%d}T{end}00
RRULE:FREQ=WEEKLY;COUNT={count}
SUMMARY:{summary}
LOCATION:217"""


def upload(
    browser: Browser,
    data: bytes,
    *,
    filename: str = "rooster.ics",
    fields: dict[str, str] | None = None,
    csrf: bool = True,
    **kw: Any,
) -> requests.Response:
    form = dict(fields or {})
    if csrf:
        form["csrf"] = browser.csrf("/admin/timetable/import")
    return browser.http.post(
        browser.base + "/admin/timetable/import",
        data=form,
        files={"file": (filename, data, "text/calendar")},
        timeout=TIMEOUT,
        allow_redirects=False,
        **kw,
    )


def wait_for(
    browser: Browser, path: str, states: tuple[str, ...], limit: float = 30
) -> dict[str, Any]:
    """Poll the upload's JSON until its state is one of ``states`` (or fail after ``limit`` s)."""
    deadline = time.monotonic() + limit
    while True:
        page = browser.json(path).json()
        if page.get("state") in states:
            return page
        assert time.monotonic() < deadline, f"upload still {page.get('state')!r}: {page}"
        time.sleep(0.05)


def next_week(days: int = 0) -> str:
    return (MONDAY + timedelta(days=days)).isoformat()


__all__ = ["NOW", "WEEK"]
