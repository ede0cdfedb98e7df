"""Times a person reads on the pages and in the downloads are the school's local time with the
zone named (issue 17, point 1); the JSON keeps UTC. The demo's "now" is 09:45 UTC on Tuesday
24 November 2026, which is 10:45 in Amsterdam (CET, UTC+1)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import select

from service.accounts import users
from service.models import Lesson, User
from tests.groupchats.gc_helpers import chat
from tests.support.actors import operator_for
from tests.support.web import TIMEOUT, Demo, signed_in

# Midnight starting 24 November in Amsterdam, in UTC; CET is UTC+1 all of that day.
DAY = datetime(2026, 11, 23, 23, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _register_chat(demo: Demo) -> int:
    with demo.sessions.begin() as s:
        teacher = s.query(User).filter_by(username="devries").one()
        token = users.create_token(s, actor=operator_for(teacher), user=teacher, now=demo.clock())
    answer = requests.post(
        demo.url + "/api/v1/groupchats",
        json=chat(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201
    # The API answers in UTC, as all JSON does.
    assert answer.json()["checked_at"] == "2026-11-24T09:45:00Z"
    return int(answer.json()["id"])


def test_pages_and_downloads_show_the_schools_local_time(demo_sqlite: Demo) -> None:
    """Enrolment codes, a group chat's "getoetst", the group-chat CSV, the lesson CSV and a
    device's access export all say 10:45 (or 09:30 for the lesson) in Amsterdam time."""
    demo = demo_sqlite
    admin, leader = signed_in(demo, "beheer"), signed_in(demo, "leiding")

    made = admin.post(
        "/admin/codes", {"group": "4A", "uses": "5", "days": "3"}, csrf_from="/admin/codes"
    )
    assert made.status_code == 303
    codes_page = admin.get("/admin/codes").text
    assert "Wanneer (Europe/Amsterdam)" in codes_page
    assert "2026-11-24 10:45 → 2026-11-27 10:45" in codes_page
    assert "09:45" not in codes_page

    chat_id = _register_chat(demo)
    assert "getoetst 2026-11-24 10:45 CET" in leader.get(f"/groupchats/{chat_id}").text

    chats = leader.post("/groupchats/export", {}, csrf_from="/groupchats/overview")
    assert chats.status_code == 200
    (row,) = csv.DictReader(io.StringIO(chats.text))
    assert (row["updated_at"], row["checked_at"]) == ("2026-11-24T10:45:00+01:00",) * 2

    lessons = admin.post(
        "/admin/export", {"first": "2026-11-24", "last": "2026-11-24"}, csrf_from="/admin/export"
    )
    starts = {r["start"] for r in csv.DictReader(io.StringIO(lessons.text))}
    with demo.sessions.begin() as s:
        day = select(Lesson.start).where(Lesson.start >= DAY, Lesson.start < DAY + timedelta(1))
        stored = list(s.scalars(day))
    # The stored UTC instants, each an hour later on the wall clock with its offset.
    assert stored and starts == {
        f"{(at + HOUR).replace(tzinfo=None).isoformat()}+01:00" for at in stored
    }

    device_id = next(iter(demo.school.device_tokens))
    export = admin.post(f"/admin/devices/{device_id}/export", {}, csrf_from="/admin/devices")
    data = export.json()
    assert (data["timezone"], data["exported_at"]) == (
        "Europe/Amsterdam",
        "2026-11-24T10:45:00+01:00",
    )
    assert all(e["at"].endswith("+01:00") for e in data["audit"])
