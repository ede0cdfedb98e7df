"""The timetable admin pages on a real collector, on SQLite and PostgreSQL: file import with
preview, progress and confirm; the week view; lesson edits that survive the next import;
weekly patterns; holidays; sources with secrets never shown again."""

from __future__ import annotations

import json
import re
import time
from datetime import date

import pytest
from sqlalchemy import select

from service.actors import Actor
from service.models import AuditEntry, Lesson, School, TimetableSource, TimetableUpload
from service.reports.lesson_report import lesson_report
from tests.support.web import Demo, allow_fetching_from, signed_in
from tests.timetable.replay import replay_server
from tests.web.tt_helpers import WEEK, calendar_bytes, upload, wait_for, weekly

MAPPING = {"mapping": "vak-klas-docent"}


def holidays_json(first: str, last: str, name: str = "Studieweek") -> bytes:
    """A Rijksoverheid-format file with one holiday for region midden (made up for the test)."""
    region = {
        "region": "midden",
        "startdate": f"{first}T00:00:00.000Z",
        "enddate": f"{last}T22:59:00.000Z",
    }
    vacation = {"type": name, "compulsorydates": "true", "regions": [region]}
    content = {"title": "t", "schoolyear": "2026-2027", "vacations": [vacation]}
    return json.dumps([{"id": "t", "type": "schoolholidays", "content": [content]}]).encode()


def imported(demo: Demo, data: bytes) -> str:
    """Upload, wait for the preview, confirm, wait for the import; returns the upload's path."""
    admin = signed_in(demo, "beheer")
    answer = upload(admin, data, fields=MAPPING)
    assert answer.status_code == 303, answer.text
    path = answer.headers["location"]
    assert wait_for(admin, path, ("previewed", "failed"))["state"] == "previewed"
    assert admin.post(path + "/confirm", {}, csrf_from=path).status_code == 303
    assert wait_for(admin, path, ("done", "failed"))["state"] == "done"
    return path


def test_upload_preview_confirm_and_week_view(demo: Demo) -> None:
    """The preview says what will be added; nothing is stored before the confirm; then the week
    view shows the lessons, the import is audited and the file's bytes are gone."""
    admin = signed_in(demo, "beheer")
    data = calendar_bytes(weekly("a"), weekly("b", at="0930", summary="ne - 4A - devries"))
    answer = upload(admin, data, fields=MAPPING)
    assert answer.status_code == 303
    path = answer.headers["location"]
    page = wait_for(admin, path, ("previewed", "failed"))
    assert page["plan"]["inserts"] == 4 and page["problems"] == []
    assert page["preview"]["groups"] == {"4A": 4}
    html = admin.get(path)
    assert html.status_code == 200 and "rooster.ics" in html.text and 'action="' in html.text
    with demo.sessions.begin() as s:
        assert s.scalars(select(Lesson).where(Lesson.source == "rooster.ics")).all() == []
    assert admin.post(path + "/confirm", {}, csrf_from=path).status_code == 303
    done = wait_for(admin, path, ("done", "failed"))
    assert done["preview"]["applied"]["inserted"] == 4
    week = admin.json(f"/admin/timetable/week?group=4A&week={WEEK}").json()
    monday = week["days"][0]
    assert [(b["time_label"], b["subject"], b["teacher"]) for b in monday["lessons"]] == [
        ("08:30–09:20", "wi", "devries"),
        ("09:30–10:20", "ne", "devries"),
    ]
    assert all(0 <= b["top"] < 100 and 0 < b["height"] <= 100 for b in monday["lessons"])
    with demo.sessions.begin() as s:
        row = s.get_one(TimetableUpload, path.rsplit("/", 1)[-1])
        assert row.data is None and row.state == "done"
        actors = s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "timetable.sync"))
        assert list(actors) == ["user:beheer"]


def test_an_edit_in_the_page_survives_the_next_import(demo: Demo) -> None:
    """A lesson moved and re-roomed in the page keeps both when the file is imported again with
    a new teacher; the new teacher still arrives; the edit is audited."""
    imported(demo, calendar_bytes(weekly("a")))
    admin = signed_in(demo, "beheer")
    week = admin.json(f"/admin/timetable/week?group=4A&week={WEEK}").json()
    lesson = week["days"][0]["lessons"][0]
    form_page = admin.json(f"/admin/timetable/lessons/{lesson['id']}").json()
    assert (form_page["start"], form_page["room"], form_page["edited"]) == ("08:30", "217", [])
    edit = {"day": WEEK, "start": "11:00", "end": "11:45", "teacher": "devries", "room": "105"}
    answer = admin.post(f"/admin/timetable/lessons/{lesson['id']}", edit)
    assert answer.status_code == 303 and f"week={WEEK}" in answer.headers["location"]
    imported(demo, calendar_bytes(weekly("a", summary="wi - 4A - bakker")))
    after = admin.json(f"/admin/timetable/lessons/{lesson['id']}").json()
    assert (after["start"], after["end"], after["room"]) == ("11:00", "11:45", "105")
    assert after["teacher"] == "bakker" and after["edited"] == ["time", "room"]
    with demo.sessions.begin() as s:
        reasons = s.scalars(select(AuditEntry.reason).where(AuditEntry.action == "lesson.edit"))
        assert list(reasons) == ["changed time, room"]
    cleared = admin.post(f"/admin/timetable/lessons/{lesson['id']}/clear", {})
    assert cleared.status_code == 303
    imported(demo, calendar_bytes(weekly("a", summary="wi - 4A - bakker")))
    back = admin.json(f"/admin/timetable/lessons/{lesson['id']}").json()
    assert (back["start"], back["room"], back["edited"]) == ("08:30", "217", [])


def test_cancel_and_remote_in_the_page_show_in_the_week(demo: Demo) -> None:
    """Cancelled and remote lessons are marked as such in the week view."""
    imported(demo, calendar_bytes(weekly("a"), weekly("b", at="0930")))
    admin = signed_in(demo, "beheer")
    first, second = admin.json(f"/admin/timetable/week?group=4A&week={WEEK}").json()["days"][0][
        "lessons"
    ]
    base = {"day": WEEK, "teacher": "devries", "room": "217"}
    admin.post(
        f"/admin/timetable/lessons/{first['id']}",
        base | {"start": "08:30", "end": "09:20", "cancelled": "1"},
    )
    admin.post(
        f"/admin/timetable/lessons/{second['id']}",
        base | {"start": "09:30", "end": "10:20", "remote": "1"},
    )
    monday = admin.json(f"/admin/timetable/week?group=4A&week={WEEK}").json()["days"][0]
    assert [(b["cancelled"], b["remote"], b["edited"]) for b in monday["lessons"]] == [
        (True, False, ["cancelled"]),
        (False, True, ["remote"]),
    ]
    html = admin.get(f"/admin/timetable/week?group=4A&week={WEEK}").text
    assert "tt-block cancelled" in html and "remote" in html


def test_holidays_mark_the_week_and_the_lesson_report(demo: Demo) -> None:
    """After importing holidays and choosing the region, the week marks the holiday's days and
    lessons, and the lesson report (JSON and page) says the lesson falls in it."""
    imported(demo, calendar_bytes(weekly("a")))
    admin = signed_in(demo, "beheer")
    answer = admin.http.post(
        admin.base + "/admin/timetable/holidays/import",
        data={"csrf": admin.csrf("/admin/timetable/holidays")},
        files={
            "file": (
                "vakanties.json",
                holidays_json("2026-11-30", "2026-12-01"),
                "application/json",
            )
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    region = admin.post("/admin/timetable/holidays/region", {"region": "midden", "advised": "1"})
    assert region.status_code == 303
    # The region links read as three words, not "noordmiddenzuid".
    shown = re.sub(r"<[^>]+>", "", admin.get("/admin/timetable/holidays").text)
    assert re.search(r"noord · midden · zuid", shown, re.IGNORECASE), shown
    listed = admin.json("/admin/timetable/holidays").json()
    assert [(h["name"], h["first_day"]) for h in listed["holidays"]] == [
        ("Studieweek", "2026-11-30")
    ]
    week = admin.json(f"/admin/timetable/week?group=4A&week={WEEK}").json()
    assert [d["holiday"] for d in week["days"]][:3] == ["Studieweek", "Studieweek", None]
    lesson = week["days"][0]["lessons"][0]
    assert lesson["holiday"] == "Studieweek"
    report = admin.json(f"/lessons/{lesson['id']}").json()
    assert report["holiday"] == "Studieweek"
    assert "Studieweek" in admin.get(f"/lessons/{lesson['id']}").text
    with demo.sessions.begin() as s:  # the report JSON of the API and CLI says it too
        cli = Actor.operator(s.get_one(School, s.get_one(Lesson, lesson["id"]).school_id))
        raw = lesson_report(s, lesson_id=lesson["id"], actor=cli, now=demo.clock())
        assert raw["holiday"] == "Studieweek"
        usual = lesson_report(
            s, lesson_id=demo.school.lesson_in_progress, actor=cli, now=demo.clock()
        )
        assert "holiday" not in usual
    other = admin.json(f"/lessons/{demo.school.lesson_in_progress}").json()
    assert other["holiday"] is None  # the page's JSON always has the field


def test_weekly_pattern_generates_and_regenerates(demo: Demo) -> None:
    """A pattern makes the group's lessons; saving it again changed updates the same lessons."""
    admin = signed_in(demo, "beheer")
    form = {
        "group": "groep 5",
        "first": "2026-11-30",
        "last": "2026-12-11",
        "day0": "08:30-10:00 rekenen; 10:15-11:45 taal",
        "day2": "08:30-12:00",
        "teacher": "devries",
        "room": "",
    }
    assert admin.post("/admin/timetable/pattern", form).status_code == 303
    week = admin.json(f"/admin/timetable/week?group=groep+5&week={WEEK}").json()
    ids = [b["id"] for d in week["days"] for b in d["lessons"]]
    assert len(ids) == 3
    again = admin.post(
        "/admin/timetable/pattern", form | {"day0": "08:45-10:00 rekenen; 10:15-11:45 taal"}
    )
    assert again.status_code == 303
    week = admin.json(f"/admin/timetable/week?group=groep+5&week={WEEK}").json()
    assert [b["id"] for d in week["days"] for b in d["lessons"]] == ids
    assert week["days"][0]["lessons"][0]["time_label"] == "08:45–10:00"
    saved = admin.json("/admin/timetable/pattern?group=groep+5").json()
    assert saved["form"]["days"]["0"].startswith("08:45") and len(saved["patterns"]) == 1


def test_feed_source_added_synced_and_removed_without_showing_its_secret(demo: Demo) -> None:
    """The feed URL's token is in no page or JSON; sync now brings the lessons; remove takes the
    lessons still to come away."""
    admin = signed_in(demo, "beheer")
    allow_fetching_from(demo, "127.0.0.1")
    with replay_server() as feed:
        feed.answer("/feed.ics", calendar_bytes(weekly("f1")), kind="text/calendar")
        secret = f"{feed.url}/feed.ics?token=s3cr3t-T0KEN"
        added = admin.post(
            "/admin/timetable/sources",
            {
                "kind": "ical_url",
                "name": "Rooster feed",
                "secret": secret,
                "mapping": "vak-klas-docent",
                "group": "",
                "interval": "3600",
            },
            csrf_from="/admin/timetable",
        )
        assert added.status_code == 303, added.text
        listed = admin.json("/admin/timetable").json()["sources"]
        assert [(s["name"], s["kind"], s["last_result"]) for s in listed] == [
            ("Rooster feed", "ical_url", None)
        ]
        sid = listed[0]["id"]
        assert (
            admin.post(
                f"/admin/timetable/sources/{sid}/sync", {}, csrf_from="/admin/timetable"
            ).status_code
            == 303
        )
        deadline = time.monotonic() + 30
        while (row := admin.json("/admin/timetable").json()["sources"][0])["last_result"] is None:
            assert time.monotonic() < deadline, "the sync did not finish"
            time.sleep(0.05)
        assert row["last_result"] == "ok" and row["last_counts"]["inserted"] == 2
        for page in (
            admin.get("/admin/timetable").text,
            json.dumps(admin.json("/admin/timetable").json()),
        ):
            assert "s3cr3t-T0KEN" not in page and "feed.ics" not in page
        assert len(feed.requests("/feed.ics")) == 1
    removed = admin.post(f"/admin/timetable/sources/{sid}/remove", {}, csrf_from="/admin/timetable")
    assert removed.status_code == 303
    with demo.sessions.begin() as s:
        assert s.scalars(select(TimetableSource)).all() == []
        assert s.scalars(select(Lesson).where(Lesson.source == "Rooster feed")).all() == []
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action.like("timetable.source%")))
        assert [(a.actor, a.action) for a in audit] == [
            ("user:beheer", "timetable.source_add"),
            ("user:beheer", "timetable.source_remove"),
        ]
        assert all("s3cr3t" not in (a.reason or "") for a in s.scalars(select(AuditEntry)))


@pytest.mark.parametrize(
    "path",
    [
        "/admin/timetable",
        "/admin/timetable/import",
        "/admin/timetable/week",
        "/admin/timetable/pattern",
        "/admin/timetable/holidays",
    ],
)
def test_timetable_pages_are_for_admins_only(demo_sqlite: Demo, path: str) -> None:
    """Teachers and leaders get 403; admins see the page, linked from the navigation."""
    for user in ("devries", "leiding"):
        assert signed_in(demo_sqlite, user).get(path).status_code == 403
    admin = signed_in(demo_sqlite, "beheer").get(path)
    assert admin.status_code == 200 and 'href="/admin/timetable"' in admin.text


def test_today_is_the_default_week(demo_sqlite: Demo) -> None:
    """Without a week the view shows the current one; the first group is chosen."""
    page = signed_in(demo_sqlite, "beheer").json("/admin/timetable/week").json()
    assert (
        page["week_start"] == date(2026, 11, 23).isoformat() and page["group"] == page["groups"][0]
    )
