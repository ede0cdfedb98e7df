"""The CSV import on the pages in Dutch (issue 17, point 9): the upload page lists the columns
the parser accepts, read from its table, and a Dutch file imports with Dutch errors."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from service.models import Lesson, TimetableUpload
from service.timetable import csvcolumns
from service.web.i18n import Translate
from tests.support.web import Demo, signed_in
from tests.web.tt_helpers import WEEK, upload, wait_for

NL = Translate("nl")
ROW = re.compile(r'<tr data-column="([^"]+)">(.*?)</tr>', re.S)
DUTCH_FILE = (
    b"datum;begin;eind;klas;vak;docent;lokaal\n"
    b"30-11-2026;08:30;09:20;4A;wi;devries;217\n"
    b"30-11-2026;9.30;10:20;4A;ne;devries;105\n"
)


def section(page: str, marker: str) -> str:
    """The inside of the element with the id ``marker`` (no element of its kind inside it)."""
    start = page.index(f'id="{marker}"')
    tag = page[page.rindex("<", 0, start) + 1 :].split(maxsplit=1)[0]
    return html.unescape(page[page.index(">", start) + 1 : page.index(f"</{tag}>", start)])


def test_the_upload_page_in_dutch_lists_every_column_the_parser_accepts(
    demo_sqlite: Demo,
) -> None:
    """Each column of the parser's table shows under its Dutch and English name, required or
    not, with its meaning in Dutch: a column added to the table and not shown fails here."""
    page = signed_in(demo_sqlite, "beheer").get("/admin/timetable/import").text
    rows = dict(ROW.findall(page))
    assert list(rows) == [c.key for c in csvcolumns.COLUMNS]
    for column in csvcolumns.COLUMNS:
        row = html.unescape(rows[column.key])
        assert f"<code>{column.nl}</code>" in row and f"<code>{column.en}</code>" in row
        assert ("verplicht" if column.required else "optioneel") in row, column.key
        assert NL(column.meaning) in row and NL(column.meaning) != column.meaning
        assert f"<code>{column.example}</code>" in row


@pytest.mark.parametrize(
    ("marker", "formats"),
    [("tt-csv-dates", csvcolumns.DATE_FORMATS), ("tt-csv-times", csvcolumns.TIME_FORMATS)],
)
def test_the_upload_page_names_each_date_and_time_format_in_dutch(
    demo_sqlite: Demo, marker: str, formats: tuple[tuple[str, str], ...]
) -> None:
    """The formats the parser reads, in Dutch words (JJJJ, UU), each with an example."""
    page = signed_in(demo_sqlite, "beheer").get("/admin/timetable/import").text
    shown = section(page, marker)
    for name, example in formats:
        assert f"{NL(name)} (<code>{example}</code>)" in shown


def test_the_upload_page_lists_yes_and_no_and_a_dutch_example(demo_sqlite: Demo) -> None:
    """Every yes and no word the parser takes, and the example file in Dutch."""
    admin = signed_in(demo_sqlite, "beheer")
    page = admin.get("/admin/timetable/import").text
    flags = section(page, "tt-csv-flags")
    assert all(f"<code>{w}</code>" in flags for w in csvcolumns.YES + csvcolumns.NO)
    assert section(page, "tt-csv-example").endswith(csvcolumns.example("nl"))
    layout = admin.json("/admin/timetable/import").json()["csv"]
    assert [c["nl"] for c in layout["columns"]] == [c.nl for c in csvcolumns.COLUMNS]


def test_a_dutch_file_uploads_previews_and_imports(demo: Demo) -> None:
    """A file with the Dutch header is read like an English one: the preview counts its
    lessons, the confirm stores them, the week view shows them."""
    admin = signed_in(demo, "beheer")
    path = upload(admin, DUTCH_FILE, filename="rooster.csv").headers["location"]
    page = wait_for(admin, path, ("previewed", "failed"))
    assert page["state"] == "previewed", page["error"]
    assert page["plan"]["inserts"] == 2 and page["problems"] == []
    assert admin.post(path + "/confirm", {}, csrf_from=path).status_code == 303
    assert wait_for(admin, path, ("done", "failed"))["state"] == "done"
    week = admin.json(f"/admin/timetable/week?group=4A&week={WEEK}").json()
    assert [(b["time_label"], b["subject"], b["room"]) for b in week["days"][0]["lessons"]] == [
        ("08:30–09:20", "wi", "217"),
        ("09:30–10:20", "ne", "105"),
    ]


@pytest.mark.parametrize(
    ("data", "english", "dutch"),
    [
        (b"datum;begin;eind;vak\n", "the header lacks 'klas'", "in de kopregel ontbreekt 'klas'"),
        (
            b"datum;begin;eind;klas;group\n",
            "columns 'klas' and 'group' are the same column",
            "de kolommen 'klas' en 'group' zijn dezelfde kolom",
        ),
        (
            b"datum;begin;eind;klas;leraar\n",
            "unknown column 'leraar'; the columns are 'datum', 'begin'",
            "onbekende kolom 'leraar'; de kolommen zijn 'datum', 'begin'",
        ),
    ],
)
def test_a_wrong_header_fails_with_its_reason_in_dutch_on_the_page(
    demo_sqlite: Demo, data: bytes, english: str, dutch: str
) -> None:
    """The failure is stored with its msgid: the JSON keeps the English text, the page reads
    Dutch, naming the columns as the file does; nothing is stored."""
    admin = signed_in(demo_sqlite, "beheer")
    path = upload(admin, data, filename="rooster.csv").headers["location"]
    page = wait_for(admin, path, ("previewed", "failed"))
    assert page["state"] == "failed" and english in page["error"]
    assert page["error_text"].startswith("rooster.csv:1: " + dutch)
    assert dutch in html.unescape(admin.get(path).text)


def test_a_wrong_row_is_listed_in_dutch_in_the_preview(demo_sqlite: Demo) -> None:
    """A row the import leaves out is listed by line with its reason in Dutch, its column named
    as the Dutch header names it."""
    admin = signed_in(demo_sqlite, "beheer")
    data = DUTCH_FILE + b"30-11-2026;8u30;09:20;4A;wi;devries;217\n"
    path = upload(admin, data, filename="rooster.csv").headers["location"]
    page = wait_for(admin, path, ("previewed", "failed"))
    assert page["problems"] == ["rooster.csv:4: 'begin' '8u30' is not a time (HH:MM)"]
    assert page["problem_texts"] == ["rooster.csv:4: 'begin' '8u30' is geen tijd (UU:MM)"]
    assert "'begin' '8u30' is geen tijd (UU:MM)" in html.unescape(admin.get(path).text)


@pytest.mark.parametrize("user", ["devries", "leiding"])
def test_only_an_admin_may_upload_a_csv(demo_sqlite: Demo, user: str) -> None:
    """A teacher or leader posting a Dutch file, with their session's CSRF token, is refused and
    nothing is kept."""
    browser = signed_in(demo_sqlite, user)
    token = {"csrf": browser.csrf("/lessons")}
    answer = upload(browser, DUTCH_FILE, filename="rooster.csv", fields=token, csrf=False)
    assert answer.status_code == 403
    with demo_sqlite.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(TimetableUpload)) == 0
        assert (
            s.scalar(select(func.count()).select_from(Lesson).where(Lesson.source == "rooster.csv"))
            == 0
        )
