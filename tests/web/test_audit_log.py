"""The audit log for a privacy officer (issue 17, point 7): actions and objects in Dutch words,
times in the school's zone, filters by person, action and dates, pages of a fixed size, and a
CSV of the same rows; only the school's own entries, only for admins."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import audit
from service.actors import Actor
from service.demo import data as demo_data
from service.devices import enrolment
from service.errors import InvalidRequest
from service.models import AuditEntry, Device, EnrolmentCode, Lesson, User
from service.schools import registry as schools
from service.web.i18n import labels, translator
from service.web.pages import audit_log, audit_names
from service.web.pages.audit_log import PAGE_SIZE, Filters, parse_filters
from service.web.pages.audit_names import LessonName, Names
from tests.support.browser import new_page, shoot, sign_in
from tests.support.sql import recorded
from tests.support.web import Demo, signed_in

T = translator("nl")
ZONE = schools.check_timezone("Europe/Amsterdam")

# --- the words for stored names (pure) ---------------------------------------------------------

NAMES = Names(
    lessons={
        "l_wis": LessonName("3B", "wiskunde", "2026-11-23 08:30"),
        "l_mentor": LessonName("4A", None, "2026-11-24 13:05"),
    },
    devices={"d_kast": "kast 4", "d_kaal": None},
    chats={"7": "3B"},
    codes={"12": "4A"},
)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        # lessons: group, subject and local start, never the id
        ("lesson:l_wis", "les 3B wiskunde, 2026-11-23 08:30"),
        ("lesson:l_mentor", "les 4A, 2026-11-24 13:05"),
        ("lesson:l_weg", "les l_weg (niet meer bewaard)"),
        # devices: the pseudonym, with the label when it has one; erased ones stay readable
        ("device:d_kast", "apparaat d_kast (kast 4)"),
        ("device:d_kaal", "apparaat d_kaal"),
        ("device:d_weg", "apparaat d_weg (gewist)"),
        # the other kinds of object the code writes
        ("user:devries", "gebruiker devries"),
        ("school:1", "de school"),
        ("group:3B", "groep 3B"),
        ("groupchat:7", "groepschat 7 van 3B"),
        ("groupchat:8", "groepschat 8"),
        ("code:12", "inschrijfcode 12 voor 4A"),
        ("code:13", "inschrijfcode 13"),
        ("source:zermelo", "roosterbron zermelo"),
        ("holidays:2026-2027", "vakanties 2026-2027"),
        ("holidays:shared:2026-2027", "gedeelde vakanties 2026-2027"),
        ("password", "met een wachtwoord"),
        ("oidc", "met het schoolaccount"),
        ("2026-11-01..2026-11-30", "lessen van 2026-11-01 tot en met 2026-11-30"),
        (
            "audit:person=user%3Adevries&action=report.view&from=2026-11-01&to=2026-11-02",
            "auditlog: persoon devries, actie rapport bekeken, van 2026-11-01, tot en met "
            "2026-11-02",
        ),
        ("audit:", "het hele auditlog"),
        # nothing, and shapes it does not know: shown as stored, never an error
        (None, ""),
        ("", ""),
        ("2026-11..later", "2026-11..later"),
        ("20261101..20261130", "20261101..20261130"),
        ("iets", "iets"),
    ],
)
def test_an_object_reads_as_words(stored: str | None, shown: str) -> None:
    """Each kind of stored object reads as a Dutch phrase; an unknown shape stays as stored."""
    assert audit_names.obj(stored, NAMES, T) == shown


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("user:devries", "devries"),
        ("cli", "opdrachtregel"),
        ("device:d_kast", "apparaat d_kast (kast 4)"),
        ("device:d_weg", "apparaat d_weg (gewist)"),
        ("iemand", "iemand"),
    ],
)
def test_an_actor_reads_as_a_name(stored: str, shown: str) -> None:
    """Users by their user name, devices by pseudonym and label, the operator as the CLI."""
    assert audit_names.actor(stored, NAMES, T) == shown


def test_every_audit_action_has_a_dutch_label_distinct_from_the_others() -> None:
    """Two actions never read the same, so a filtered log never mixes them up."""
    shown = [T(msgid) for msgid in labels.AUDIT_ACTIONS.values()]
    assert len(set(shown)) == len(shown)


# --- the filters (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Filters()),
        ({"page": ""}, Filters()),
        (
            {"person": " user:devries ", "action": "report.view"},
            Filters("user:devries", "report.view"),
        ),
        (
            {"from": "2026-11-23", "to": "2026-11-23", "page": "3"},
            Filters(first=date(2026, 11, 23), last=date(2026, 11, 23), page=3),
        ),
        ({"page": "100000"}, Filters(page=100_000)),
    ],
)
def test_filters_read_from_the_url(fields: dict[str, str], expected: Filters) -> None:
    """Empty fields mean no filter; a page number and dates are read as such."""
    assert parse_filters(fields) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # dates: only YYYY-MM-DD
        ({"from": "2026-13-01"}, "From must be a date (YYYY-MM-DD)"),
        ({"from": "23-11-2026"}, "From must be a date (YYYY-MM-DD)"),
        ({"to": "20261123"}, "To (inclusive) must be a date (YYYY-MM-DD)"),
        ({"to": "gisteren"}, "To (inclusive) must be a date (YYYY-MM-DD)"),
        ({"from": "2026-11-24", "to": "2026-11-23"}, "the date 'to' is before the date 'from'"),
        # page numbers: whole, from 1, not absurd
        ({"page": "0"}, "the page must be a whole number from 1 to 100000"),
        ({"page": "-1"}, "the page must be a whole number from 1 to 100000"),
        ({"page": "1e3"}, "the page must be a whole number from 1 to 100000"),
        ({"page": "2.5"}, "the page must be a whole number from 1 to 100000"),
        ({"page": "100001"}, "the page must be a whole number from 1 to 100000"),
        ({"page": "9" * 40}, "the page must be a whole number from 1 to 100000"),
        ({"page": "٣"}, "the page must be a whole number from 1 to 100000"),
        # actions: only those the log knows
        ({"action": "report.delete"}, "unknown action 'report.delete'"),
        ({"action": "REPORT.VIEW"}, "unknown action 'REPORT.VIEW'"),
        ({"person": "x" * 121}, "the person is too long (at most 120 characters)"),
    ],
)
def test_a_malformed_filter_is_refused_with_its_reason(
    fields: dict[str, str], message: str
) -> None:
    """A bad date, page or action is an InvalidRequest naming it (a 422 page, never a 500)."""
    with pytest.raises(InvalidRequest) as refused:
        parse_filters(fields)
    assert refused.value.message == message


def test_the_page_links_keep_the_filters() -> None:
    """Next and previous links carry the person, action and dates; page 1 is left out."""
    filters = Filters("user:devries", "report.view", date(2026, 11, 1), date(2026, 11, 30), 2)
    assert filters.query(3) == (
        "person=user%3Adevries&action=report.view&from=2026-11-01&to=2026-11-30&page=3"
    )
    assert (
        filters.query(1) == "person=user%3Adevries&action=report.view&from=2026-11-01&to=2026-11-30"
    )
    assert Filters().query() == ""


# --- the log on both databases ------------------------------------------------------------------


def admin(session: Session) -> User:
    return session.scalars(select(User).where(User.username == "beheer")).one()


# Monday 23 November 2026 in Amsterdam (UTC+1): its first and last second, and the moments
# just outside it.
DAY = date(2026, 11, 23)
FIRST_SECOND = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
LAST_SECOND = datetime(2026, 11, 23, 22, 59, 59, tzinfo=UTC)
TESTER = "user:privacytest"


def add(session: Session, school_id: int, at: datetime, action: str = "report.view") -> None:
    audit.record(session, actor=TESTER, school_id=school_id, action=action, obj=None, now=at)


def log(session: Session, **fields: str) -> dict[str, Any]:
    return audit_log.audit_log(session, viewer=admin(session), filters=parse_filters(fields), t=T)


def test_dates_are_the_schools_days_and_another_school_never_shows(
    demo_sessions: sessionmaker[Session],
) -> None:
    """A day runs from midnight to midnight in Amsterdam, not UTC; the same person's entries in
    another school never appear, whatever the filter."""
    with demo_sessions.begin() as s:
        own = schools.school(s, demo_data.SCHOOL).id
        other = schools.school(s, "Tweede school").id
        second = timedelta(seconds=1)
        for at in (FIRST_SECOND - second, FIRST_SECOND, LAST_SECOND, LAST_SECOND + second):
            add(s, own, at)
            add(s, other, at, "user.add")
    with demo_sessions.begin() as s:
        day = log(s, person=TESTER, **{"from": DAY.isoformat(), "to": DAY.isoformat()})
        assert [e["local"] for e in day["entries"]] == [
            "2026-11-23 23:59:59",
            "2026-11-23 00:00:00",
        ]
        everything = log(s, person=TESTER)
        assert everything["total"] == 4
        assert {e["action"] for e in everything["entries"]} == {"report.view"}
        assert log(s, person=TESTER, action="user.add")["total"] == 0
        assert log(s, person=TESTER, **{"from": "2026-11-24"})["total"] == 1
        assert log(s, person=TESTER, **{"to": "2026-11-22"})["total"] == 1


@pytest.mark.parametrize(
    ("count", "page", "shown", "pages"),
    [
        (0, "1", 0, 1),
        (1, "1", 1, 1),
        (PAGE_SIZE, "1", PAGE_SIZE, 1),
        (PAGE_SIZE + 1, "1", PAGE_SIZE, 2),
        (PAGE_SIZE + 1, "2", 1, 2),
        (2 * PAGE_SIZE, "2", PAGE_SIZE, 2),
    ],
)
def test_pages_hold_a_fixed_number_of_entries_newest_first(
    demo_sessions: sessionmaker[Session], count: int, page: str, shown: int, pages: int
) -> None:
    """Pages of PAGE_SIZE, newest first; the first page has no newer link, the last no older.
    The entries fill one day of their own, long before the demo school's."""
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    with demo_sessions.begin() as s:
        own = schools.school(s, demo_data.SCHOOL).id
        for i in range(count):
            add(s, own, start + timedelta(minutes=i))
    with demo_sessions.begin() as s:
        answer = log(s, page=page, **{"from": "2026-11-02", "to": "2026-11-02"})
    entries = answer["entries"]
    assert isinstance(entries, list) and len(entries) == shown
    assert (answer["total"], answer["pages"]) == (count, pages)
    times = [e["at"] for e in entries]
    assert times == sorted(times, reverse=True)
    if entries:
        newest = count - 1 - (int(page) - 1) * PAGE_SIZE
        assert entries[0]["at"] == (start + timedelta(minutes=newest)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    assert (answer["newer"] is None) == (page == "1")
    assert (answer["older"] is None) == (int(page) == pages)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"page": "2"}, "page 2 does not exist: the last page is 1"),
        ({"page": "100000"}, "page 100000 does not exist: the last page is 1"),
        (
            {"person": "user:nobody"},
            "no one named 'user:nobody' appears in this school's audit log",
        ),
    ],
)
def test_a_page_past_the_end_or_an_unknown_person_is_refused(
    demo_sessions: sessionmaker[Session], fields: dict[str, str], message: str
) -> None:
    """Past the last page, or a person absent from this school's log: a clear refusal."""
    with demo_sessions.begin() as s:
        add(s, schools.school(s, demo_data.SCHOOL).id, FIRST_SECOND)
        add(s, schools.school(s, "Tweede school").id, FIRST_SECOND)
        filters = parse_filters({"person": TESTER, **fields})
        with pytest.raises(InvalidRequest) as refused:
            audit_log.audit_log(s, viewer=admin(s), filters=filters, t=T)
    assert refused.value.message == message


def test_a_person_of_another_school_is_unknown_here(demo_sessions: sessionmaker[Session]) -> None:
    """Filtering by someone who only appears in another school's log is refused, not empty:
    the filter cannot be used to learn names from another school either."""
    with demo_sessions.begin() as s:
        other = schools.school(s, "Tweede school").id
        audit.record(
            s, actor="user:elders", school_id=other, action="signin", obj=None, now=FIRST_SECOND
        )
    with demo_sessions.begin() as s:
        page = audit_log.audit_log(s, viewer=admin(s), filters=Filters(), t=T)
        assert "user:elders" not in {p["value"] for p in page["people"]}
        with pytest.raises(InvalidRequest):
            audit_log.audit_log(s, viewer=admin(s), filters=Filters("user:elders"), t=T)


def test_objects_resolve_in_the_school_and_in_its_zone(
    demo_sessions: sessionmaker[Session],
) -> None:
    """A lesson reads as its group, subject and Amsterdam start; a device as its pseudonym and
    label; the same ids asked for by another school resolve to nothing."""
    with demo_sessions.begin() as s:
        school = schools.school(s, demo_data.SCHOOL)
        lesson = s.scalars(select(Lesson).where(Lesson.school_id == school.id)).first()
        device = s.scalars(select(Device).where(Device.school_id == school.id)).first()
        assert lesson is not None and device is not None
        device.label = "kar 2"
        code_text = enrolment.create_code(
            s,
            actor=Actor.operator(school),
            group="4A",
            uses=1,
            lifetime=timedelta(days=1),
            now=FIRST_SECOND,
        )
        assert code_text
        code = s.scalars(select(EnrolmentCode).order_by(EnrolmentCode.id.desc())).first()
        assert code is not None
        asked = [
            f"lesson:{lesson.id}",
            f"device:{device.id}",
            f"code:{code.id}",
            "code:not-a-number",
            "groupchat:99999999999999",
            None,
            "user:beheer",
        ]
        names = audit_names.resolve(s, school_id=school.id, tz=ZONE, names=asked)
        assert names.codes == {str(code.id): "4A"}
        start = lesson.start.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
        assert names.lessons[lesson.id].start == start
        assert names.lessons[lesson.id].subject == lesson.subject
        assert names.devices == {device.id: "kar 2"}
        other = schools.school(s, "Tweede school")
        s.flush()
        assert audit_names.resolve(s, school_id=other.id, tz=ZONE, names=asked) == Names({}, {})


def test_a_page_costs_the_same_queries_however_many_objects_it_names(
    demo_sessions: sessionmaker[Session],
) -> None:
    """Lessons, devices, group chats and codes are resolved in bulk: a page of 4 entries and a
    page of 50, naming every kind of object, send the same number of statements."""
    with demo_sessions.begin() as s:
        school = schools.school(s, demo_data.SCHOOL)
        lessons = s.scalars(select(Lesson.id).where(Lesson.school_id == school.id)).all()
        devices = s.scalars(select(Device.id).where(Device.school_id == school.id)).all()
        assert len(lessons) >= PAGE_SIZE and len(devices) >= 2
        start = datetime(2026, 9, 1, 8, tzinfo=UTC)
        for i in range(PAGE_SIZE):
            device = f"device:{devices[i % len(devices)]}"
            named = (f"lesson:{lessons[i]}", device, f"groupchat:{i}", f"code:{i}")[i % 4]
            audit.record(
                s,
                actor=device,
                school_id=school.id,
                action="devices.view",
                obj=named,
                now=start + timedelta(days=i),
            )

    def statements(fields: dict[str, str]) -> tuple[int, int]:
        with recorded(demo_sessions) as seen, demo_sessions.begin() as s:
            page = audit_log.audit_log(s, viewer=admin(s), filters=parse_filters(fields), t=T)
            objects = [e["object_label"] for e in page["entries"]]
            assert not any("niet meer bewaard" in o or "gewist" in o for o in objects)
        return len(seen), len(objects)

    few, shown = statements({"action": "devices.view", "from": "2026-09-01", "to": "2026-09-04"})
    assert shown == 4
    assert statements({"action": "devices.view"}) == (few, PAGE_SIZE)


# --- the page, the CSV and who may see them ----------------------------------------------------

CELLS = re.compile(
    r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td><td>(.*?)</td></tr>"
)


def page_rows(text: str) -> list[list[str]]:
    return [[html.unescape(c) for c in row] for row in CELLS.findall(text)]


def test_the_csv_holds_the_rows_of_the_page_and_its_export_is_audited(demo: Demo) -> None:
    """What the admin reads is what the CSV holds: same rows, same Dutch words, local times
    under a header naming the zone; the export itself is a line of the log."""
    admin_browser = signed_in(demo, "beheer")
    for lesson in demo.school.lessons[:3]:
        assert admin_browser.get(f"/lessons/{lesson}").status_code == 200
    query = {"person": "user:beheer", "action": "report.view"}
    page = admin_browser.get("/admin/audit", params=query)
    assert page.status_code == 200
    rows = page_rows(page.text)
    assert len(rows) >= 3
    for when, who, what, obj, _reason in rows:
        assert who == "beheer" and what == "rapport bekeken"
        assert obj.startswith("les ") and "lesson:" not in obj
        assert re.fullmatch(r"2026-11-\d\d \d\d:\d\d:\d\d", when)
    assert "Wanneer (Europe/Amsterdam)" in page.text

    exported = admin_browser.post("/admin/audit/export", query, csrf_from="/admin/audit")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == ["Wanneer (Europe/Amsterdam)", "Wie", "Wat", "Object", "Reden"]
    assert table[1:] == rows

    with demo.sessions.begin() as s:
        [entry] = audit.entries(s, action="audit.export")
        assert (entry.actor, entry.object) == (
            "user:beheer",
            "audit:person=user%3Abeheer&action=report.view",
        )
    shown = page_rows(admin_browser.get("/admin/audit", params={"action": "audit.export"}).text)
    assert [row[3] for row in shown] == ["auditlog: persoon beheer, actie rapport bekeken"]


def test_json_keeps_utc_and_the_links_keep_the_filters(demo_sqlite: Demo) -> None:
    """The JSON of the page has UTC times beside the local ones, and its next link carries the
    filters to page 2."""
    admin_browser = signed_in(demo_sqlite, "beheer")
    with demo_sqlite.sessions.begin() as s:
        school_id = schools.school(s, demo_data.SCHOOL).id
        for i in range(PAGE_SIZE + 2):
            at = datetime(2026, 11, 20, 12, tzinfo=UTC) + timedelta(minutes=i)
            audit.record(
                s, actor="user:ouder", school_id=school_id, action="lesson.add", obj=None, now=at
            )
    answer = admin_browser.json("/admin/audit?person=user:ouder&action=lesson.add&from=2026-11-20")
    page = answer.json()
    assert answer.status_code == 200 and page["pages"] == 2 and page["newer"] is None
    assert (
        page["older"] == "/admin/audit?person=user%3Aouder&action=lesson.add&from=2026-11-20&page=2"
    )
    first = page["entries"][0]
    assert (first["at"], first["local"]) == ("2026-11-20T12:51:00Z", "2026-11-20 13:51:00")
    assert first["actor_label"] == "ouder"
    second = admin_browser.json(page["older"]).json()
    assert len(second["entries"]) == 2 and second["newer"] == (
        "/admin/audit?person=user%3Aouder&action=lesson.add&from=2026-11-20"
    )


@pytest.mark.parametrize(
    ("query", "dutch"),
    [
        ("from=2026-02-30", "Van moet een datum zijn (JJJJ-MM-DD)"),
        ("to=morgen", "Tot en met moet een datum zijn (JJJJ-MM-DD)"),
        ("page=99999999999999999999", "de pagina moet een heel getal van 1 tot 100000 zijn"),
        ("page=5000", "pagina 5000 bestaat niet"),
        ("action=report.delete", "onbekende actie &#39;report.delete&#39;"),
        ("person=user:onbekend", "komt niet voor in het auditlog van deze school"),
    ],
)
def test_a_malformed_filter_gives_a_dutch_message_not_a_500(
    demo_sqlite: Demo, query: str, dutch: str
) -> None:
    """Bad dates, absurd pages and unknown actions or people answer 422 in Dutch, on the page
    and on the export alike."""
    admin_browser = signed_in(demo_sqlite, "beheer")
    answer = admin_browser.get(f"/admin/audit?{query}")
    assert answer.status_code == 422 and dutch in answer.text
    key, _, value = query.partition("=")
    if key != "page":  # the export has no pages
        export = admin_browser.post("/admin/audit/export", {key: value}, csrf_from="/admin/audit")
        assert export.status_code == 422 and dutch in export.text


@pytest.mark.parametrize("user", ["leiding", "devries", "jansen"])
def test_only_admins_read_or_export_the_log(demo_sqlite: Demo, user: str) -> None:
    """Leaders and teachers get 403 for the page and the export, and nothing is audited."""
    browser = signed_in(demo_sqlite, user)
    assert browser.get("/admin/audit").status_code == 403
    assert browser.post("/admin/audit/export", {}).status_code == 403
    with demo_sqlite.sessions.begin() as s:
        assert audit.entries(s, action="audit.export") == []


def test_the_page_shows_no_stored_codes(demo_sqlite: Demo) -> None:
    """No cell of the page reads like ``report.view`` or ``lesson:l_…``: the log is in words."""
    admin_browser = signed_in(demo_sqlite, "beheer")
    signed_in(demo_sqlite, "devries").get(f"/lessons/{demo_sqlite.school.lesson_in_progress}")
    rows = page_rows(admin_browser.get("/admin/audit").text)
    assert rows
    codes = re.compile(r"\b(?:lesson|device|user|school):\S|\b[a-z_]+\.[a-z_]+\b")
    for row in rows:
        assert not any(codes.search(cell) for cell in row[1:4]), row
    with demo_sqlite.sessions.begin() as s:
        stored = s.scalars(select(AuditEntry.action).distinct()).all()
        assert set(stored) <= set(labels.AUDIT_ACTIONS)


# --- in the browser -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_filters_pages_and_downloads_in_chromium(
    chromium: Browser, demo_sqlite: Demo, width: int
) -> None:
    """In Chromium an admin picks an action in the form, reads only those rows, follows the
    older link with the filter kept, and downloads the CSV; at a phone's 390 px the page does
    not scroll sideways (the table scrolls in its box)."""
    demo = demo_sqlite
    with demo.sessions.begin() as s:
        school_id = schools.school(s, demo_data.SCHOOL).id
        lesson = demo.school.lesson_in_progress
        for i in range(PAGE_SIZE + 1):
            at = datetime(2026, 11, 23, 8, tzinfo=UTC) + timedelta(minutes=i)
            audit.record(
                s,
                actor="user:devries",
                school_id=school_id,
                action="permission.grant",
                obj=f"lesson:{lesson}",
                now=at,
            )
    page = new_page(chromium)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, demo.url, "beheer", demo.school.passwords["beheer"])
    page.goto(demo.url + "/admin/audit")
    page.select_option("select[name=action]", "permission.grant")
    page.click("form.audit-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*action=permission\.grant.*"))
    actions = page.locator("td[data-action]").all_inner_texts()
    assert len(actions) == PAGE_SIZE and set(actions) == {"toestemming gegeven"}
    assert page.locator("td[data-object]").first.inner_text().startswith("les 3B ")
    wide = page.evaluate("document.documentElement.scrollWidth")
    if width == 1280:
        shoot(page, "admin-audit", full_page=False)
    assert wide <= width, f"the page is {wide} px wide at {width} px"

    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r".*action=permission\.grant.*page=2"))
    assert page.locator("td[data-action]").all_inner_texts() == ["toestemming gegeven"]
    with page.expect_download() as download:
        page.click("form[action='/admin/audit/export'] button[type=submit]")
    path = download.value.path()
    table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(table) == 1 + PAGE_SIZE + 1
    assert {row[2] for row in table[1:]} == {"toestemming gegeven"}
    page.context.close()
