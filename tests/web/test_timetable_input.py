"""Bad input on the timetable pages: every form refuses a missing CSRF token, malformed,
oversized, hostile and replayed input with a clear answer, never a 500, and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.models import Lesson, SchoolHoliday, TimetableSource, TimetableUpload
from tests.support.web import TIMEOUT, Demo, signed_in
from tests.web.tt_helpers import WEEK, calendar_bytes, upload, wait_for, weekly

MAPPING = {"mapping": "vak-klas-docent"}


def counts(demo: Demo) -> tuple[int, int, int, int]:
    with demo.sessions.begin() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(t))
            for t in (Lesson, TimetableSource, TimetableUpload, SchoolHoliday)
        )


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            "/admin/timetable/sources",
            {"kind": "ical_url", "name": "x", "secret": "https://a.nl/x", "interval": "0"},
        ),
        ("/admin/timetable/sources/1/sync", {"x": "1"}),
        ("/admin/timetable/sources/1/remove", {"x": "1"}),
        (
            "/admin/timetable/pattern",
            {"group": "5", "first": WEEK, "last": WEEK, "day0": "08:30-09:00"},
        ),
        ("/admin/timetable/holidays/region", {"region": "zuid"}),
        ("/admin/timetable/lessons/l_x", {"day": WEEK, "start": "08:00", "end": "09:00"}),
        ("/admin/timetable/lessons/l_x/clear", {"x": "1"}),
        ("/admin/timetable/import/u_x/confirm", {"x": "1"}),
        ("/admin/timetable/import/u_x/discard", {"x": "1"}),
    ],
)
def test_every_form_needs_its_csrf_token(
    demo_sqlite: Demo, path: str, data: dict[str, str]
) -> None:
    """A form posted without the session's CSRF token is refused with 403; nothing changes."""
    admin = signed_in(demo_sqlite, "beheer")
    before = counts(demo_sqlite)
    answer = admin.post(path, data, csrf_from=None)
    assert answer.status_code == 403
    assert counts(demo_sqlite) == before


def test_uploads_need_their_csrf_token_too(demo_sqlite: Demo) -> None:
    """A multipart upload or holiday import without the token is refused before anything runs."""
    admin = signed_in(demo_sqlite, "beheer")
    before = counts(demo_sqlite)
    assert upload(admin, calendar_bytes(weekly("a")), csrf=False).status_code == 403
    answer = admin.http.post(
        admin.base + "/admin/timetable/holidays/import",
        data={"url": "https://example.org/h.json"},
        files={"file": ("h.json", b"[]", "application/json")},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert answer.status_code == 403
    assert counts(demo_sqlite) == before


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"file=abc", "application/x-www-form-urlencoded", 415),
        (
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.ics"\r\n\r\nabc',
            "multipart/form-data; boundary=XX",
            422,
        ),
        (b"garbage", "multipart/form-data", 422),
        (b"garbage", "multipart/form-data; boundary=XX", 422),
        (b"x" * (11 * 1024 * 1024), "multipart/form-data; boundary=XX", 413),
    ],
)
def test_malformed_and_oversized_uploads(
    demo_sqlite: Demo, body: bytes, content_type: str, status: int
) -> None:
    """Wrong type, truncated or boundary-less multipart, and a body over the cap: clear errors."""
    admin = signed_in(demo_sqlite, "beheer")
    before = counts(demo_sqlite)
    answer = admin.http.post(
        admin.base + "/admin/timetable/import",
        data=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert answer.status_code == status
    assert answer.json()["error"]["message"]
    assert counts(demo_sqlite) == before


def test_a_file_over_the_limit_is_refused(demo_sqlite: Demo) -> None:
    """A calendar of more than 10 MB is refused with 413 and no upload is kept."""
    admin = signed_in(demo_sqlite, "beheer")
    big = calendar_bytes(weekly("a")) + b"X" * (10 * 1024 * 1024)
    answer = upload(admin, big, headers={"Accept": "application/json"})
    assert answer.status_code == 413 and "10,485,760" in answer.json()["error"]["message"]
    assert counts(demo_sqlite)[2] == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:2026113", "rooster.ics"),
        (
            calendar_bytes(
                "UID:z\nDTSTART;TZID=Mars/Olympus:20261130T083000\n"
                "DTEND;TZID=Mars/Olympus:20261130T092000\nSUMMARY:wi - 4A - x"
            ),
            "Mars/Olympus",
        ),
        (
            calendar_bytes(
                "UID:r\nDTSTART:20261130T083000Z\nDTEND:20261130T092000Z\n"
                "RRULE:FREQ=MINUTELY\nSUMMARY:wi - 4A - x"
            ),
            "rooster.ics",
        ),
    ],
)
def test_unreadable_files_fail_with_the_reason_and_store_nothing(
    demo_sqlite: Demo, data: bytes, message: str
) -> None:
    """A malformed calendar, an unknown zone, an endless rule: the upload fails, saying where."""
    admin = signed_in(demo_sqlite, "beheer")
    lessons_before = counts(demo_sqlite)[0]
    path = upload(admin, data, fields=MAPPING).headers["location"]
    page = wait_for(admin, path, ("previewed", "failed"))
    if page["state"] == "previewed":  # a partial read lists the entry instead
        assert any(message in p for p in page["problems"]) or page["plan"]["inserts"] == 0
    else:
        assert message in page["error"]
        assert "nothing" in admin.get(path).text.lower() or "niets" in admin.get(path).text
    assert counts(demo_sqlite)[0] == lessons_before


def test_entries_that_cannot_be_imported_are_listed_by_uid(demo_sqlite: Demo) -> None:
    """The preview lists each entry it leaves out by UID, and the confirm button says so."""
    admin = signed_in(demo_sqlite, "beheer")
    data = calendar_bytes(weekly("good"), weekly("nogroup", summary="onleesbaar"))
    path = upload(admin, data, fields=MAPPING).headers["location"]
    page = wait_for(admin, path, ("previewed",))
    assert page["plan"]["inserts"] == 2
    assert len(page["problems"]) == 1 and "nogroup" in page["problems"][0]
    assert "1" in admin.get(path).text.split("tt-confirm")[1][:400]


def test_hostile_names_are_shown_as_text(demo_sqlite: Demo) -> None:
    """A file name and a source name with markup or a path are cleaned or escaped, never run."""
    admin = signed_in(demo_sqlite, "beheer")
    answer = upload(
        admin,
        calendar_bytes(weekly("a")),
        filename="../../etc/<script>alert(1)</script>.ics",
        fields=MAPPING | {"source": "<img src=x onerror=alert(1)>"},
    )
    path = answer.headers["location"]
    page = wait_for(admin, path, ("previewed",))
    assert page["filename"] == "script>.ics" or "/" not in page["filename"]
    html = admin.get(path).text
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_replayed_confirm_is_refused(demo_sqlite: Demo) -> None:
    """A confirm sent twice imports once; the second gets 409; discarding afterwards is gone."""
    admin = signed_in(demo_sqlite, "beheer")
    path = upload(admin, calendar_bytes(weekly("a")), fields=MAPPING).headers["location"]
    wait_for(admin, path, ("previewed",))
    token = admin.csrf(path)
    first = admin.http.post(
        admin.base + path + "/confirm", data={"csrf": token}, allow_redirects=False, timeout=TIMEOUT
    )
    again = admin.http.post(
        admin.base + path + "/confirm",
        data={"csrf": token},
        allow_redirects=False,
        timeout=TIMEOUT,
        headers={"Accept": "application/json"},
    )
    assert (first.status_code, again.status_code) == (303, 409)
    wait_for(admin, path, ("done",))
    lessons = counts(demo_sqlite)[0]
    third = admin.http.post(
        admin.base + path + "/confirm", data={"csrf": token}, allow_redirects=False, timeout=TIMEOUT
    )
    assert third.status_code == 409 and counts(demo_sqlite)[0] == lessons


def test_an_upload_belongs_to_its_session(demo_sqlite: Demo) -> None:
    """Another session, even of the same admin, cannot see, confirm or discard the upload."""
    mine = signed_in(demo_sqlite, "beheer")
    path = upload(mine, calendar_bytes(weekly("a")), fields=MAPPING).headers["location"]
    wait_for(mine, path, ("previewed",))
    other = signed_in(demo_sqlite, "beheer")
    assert other.get(path).status_code == 404
    assert other.post(path + "/confirm", {}, csrf_from="/admin/timetable").status_code == 404
    assert other.post(path + "/discard", {}, csrf_from="/admin/timetable").status_code == 404
    assert mine.post(path + "/discard", {}, csrf_from=path).status_code == 303
    assert mine.get(path).status_code == 404 and counts(demo_sqlite)[2] == 0


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (
            {
                "kind": "ical_url",
                "name": "f",
                "secret": "http://example.org/f.ics",
                "interval": "3600",
            },
            422,
            "https",
        ),
        (
            {
                "kind": "ical_url",
                "name": "f",
                "secret": "https://a.nl/f\x07.ics",
                "interval": "3600",
            },
            422,
            "control",
        ),
        (
            {"kind": "ical_url", "name": "f", "secret": "https://a.nl/f.ics", "interval": "17"},
            422,
            "interval",
        ),
        (
            {
                "kind": "zermelo",
                "name": "z",
                "secret": "",
                "portal": "https://s.zportal.nl",
                "interval": "0",
            },
            422,
            "token",
        ),
        ({"kind": "csv", "name": "c", "secret": "", "interval": "0"}, 422, "kind"),
        (
            {
                "kind": "ical_url",
                "name": "x" * 101,
                "secret": "https://a.nl/f.ics",
                "interval": "0",
            },
            422,
            "at most 100",
        ),
        (
            {
                "kind": "ical_url",
                "name": "f",
                "secret": "https://a.nl/f.ics",
                "mapping": "<x>",
                "interval": "0",
            },
            422,
            "mapping",
        ),
    ],
)
def test_bad_sources_are_refused(
    demo_sqlite: Demo, data: dict[str, str], status: int, message: str
) -> None:
    """Plain http to another host, control characters, odd intervals, kinds and names: refused."""
    admin = signed_in(demo_sqlite, "beheer")
    answer = admin.post(
        "/admin/timetable/sources",
        data,
        csrf_from="/admin/timetable",
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == status and message in answer.json()["error"]["message"]
    assert counts(demo_sqlite)[1] == 0


def test_a_replayed_source_add_is_a_conflict(demo_sqlite: Demo) -> None:
    """The same source added twice is refused the second time; one source, one secret."""
    admin = signed_in(demo_sqlite, "beheer")
    data = {"kind": "ical_url", "name": "f", "secret": "https://a.nl/f.ics?t=1", "interval": "0"}
    assert (
        admin.post("/admin/timetable/sources", data, csrf_from="/admin/timetable").status_code
        == 303
    )
    again = admin.post(
        "/admin/timetable/sources",
        data,
        csrf_from="/admin/timetable",
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 409 and counts(demo_sqlite)[1] == 1


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"start": "25:00"}, 422),
        ({"start": "08:30<script>"}, 422),
        ({"day": "30-11-2026"}, 422),
        ({"day": "2026-11-30" * 3}, 422),
        ({"end": "08:00"}, 422),
        ({"teacher": "t" * 65}, 422),
        ({"room": "a\x1bb"}, 422),
    ],
)
def test_bad_lesson_edits_are_refused(
    demo_sqlite: Demo, fields: dict[str, str], status: int
) -> None:
    """Impossible times and dates, overlong and unprintable names: refused, the lesson unchanged."""
    admin = signed_in(demo_sqlite, "beheer")
    lesson = demo_sqlite.school.lesson_in_progress
    with demo_sqlite.sessions.begin() as s:
        future = s.scalars(
            select(Lesson).where(Lesson.start > demo_sqlite.clock()).order_by(Lesson.start)
        ).first()
        assert future is not None
        lesson, before = future.id, (future.start, future.end, future.room_id, future.teacher_id)
    form = {
        "day": "2026-11-30",
        "start": "08:30",
        "end": "09:20",
        "teacher": "",
        "room": "",
    } | fields
    answer = admin.post(
        f"/admin/timetable/lessons/{lesson}", form, headers={"Accept": "application/json"}
    )
    assert answer.status_code == status and answer.json()["error"]["message"]
    with demo_sqlite.sessions.begin() as s:
        row = s.get_one(Lesson, lesson)
        assert (row.start, row.end, row.room_id, row.teacher_id) == before and row.edited is None


def test_lessons_over_or_unknown_cannot_be_edited(demo_sqlite: Demo) -> None:
    """A lesson in progress or over is refused (409); odd ids are just unknown (404)."""
    admin = signed_in(demo_sqlite, "beheer")
    with demo_sqlite.sessions.begin() as s:
        past = s.scalars(select(Lesson).where(Lesson.end < demo_sqlite.clock())).first()
        assert past is not None
        past_id = past.id
    form = {"day": "2026-11-30", "start": "08:30", "end": "09:20"}
    assert admin.post(f"/admin/timetable/lessons/{past_id}", form).status_code == 409
    for odd in ("l_nope", "..%2F..%2Fetc", "x" * 70):
        assert admin.post(f"/admin/timetable/lessons/{odd}", form).status_code == 404
        assert admin.get(f"/admin/timetable/lessons/{odd}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"day0": "half negen"}, "monday"),
        ({"day1": "10:00-09:00"}, "tuesday"),
        ({"day0": ""}, "at least one weekday"),
        ({"first": "2026-12-11", "last": "2026-11-30"}, "before the first"),
        ({"last": "2029-01-01"}, "400 days"),
        ({"first": "morgen"}, "first day"),
        ({"group": "a\x07b"}, "group"),
    ],
)
def test_bad_patterns_are_refused(demo_sqlite: Demo, fields: dict[str, str], message: str) -> None:
    """Unreadable blocks name their weekday; bad ranges and names are refused; nothing stored."""
    admin = signed_in(demo_sqlite, "beheer")
    before = counts(demo_sqlite)
    form = {
        "group": "groep 5",
        "first": "2026-11-30",
        "last": "2026-12-11",
        "day0": "08:30-10:00",
    } | fields
    answer = admin.post("/admin/timetable/pattern", form, headers={"Accept": "application/json"})
    assert answer.status_code == 422 and message in answer.json()["error"]["message"]
    assert counts(demo_sqlite) == before


@pytest.mark.parametrize(
    ("files", "data", "message"),
    [
        ({"file": ("h.json", b"{not json", "application/json")}, {}, "h.json"),
        ({"file": ("h.json", b"[]", "application/json")}, {}, "h.json"),
        ({}, {"url": "ftp://example.org/h.json"}, "https"),
        ({}, {"url": "http://example.org/h.json"}, "https"),
        ({}, {}, "choose a file"),
        ({"file": ("h.json", b"x" * (3 * 1024 * 1024), "application/json")}, {}, "larger"),
    ],
)
def test_bad_holiday_imports_are_refused(
    demo_sqlite: Demo, files: dict[str, tuple[str, bytes, str]], data: dict[str, str], message: str
) -> None:
    """Malformed, empty, oversized files and URLs that are not https: refused, nothing stored."""
    admin = signed_in(demo_sqlite, "beheer")
    fields = data | {"csrf": admin.csrf("/admin/timetable/holidays")}
    answer = admin.http.post(
        admin.base + "/admin/timetable/holidays/import",
        data=fields,
        files=files or {"file": ("", b"", "application/octet-stream")},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert answer.status_code in (413, 422) and message in answer.json()["error"]["message"]
    assert counts(demo_sqlite)[3] == 0


def test_bad_region_and_week_parameters(demo_sqlite: Demo) -> None:
    """An unknown region or group, or a malformed week, is a clear 422, not a 500."""
    admin = signed_in(demo_sqlite, "beheer")
    assert admin.post("/admin/timetable/holidays/region", {"region": "mars"}).status_code == 422
    for query in ("region=mars",):
        assert admin.get(f"/admin/timetable/holidays?{query}").status_code == 422
    for query in ("week=gisteren", "week=2026-13-01", "group=%3Cscript%3E", "week=" + "9" * 200):
        answer = admin.get(f"/admin/timetable/week?{query}")
        assert answer.status_code == 422 and "<script>" not in answer.text
    assert admin.post("/admin/timetable/sources/abc/sync", {}).status_code == 404
    assert admin.post("/admin/timetable/sources/99999/remove", {}).status_code == 404
