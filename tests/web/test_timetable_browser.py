"""The timetable pages in Debian's Chromium, driven by Playwright, against a real collector:
an admin uploads a small iCalendar file, sees the preview, confirms, watches the import finish
and finds the lessons in the group's week view. Screenshots of the sources page, the preview
and the week view go to test-artifacts/ (docs/screenshots/ with LESSONWATCH_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import new_page, shoot, sign_in
from tests.support.web import Demo, allow_fetching_from
from tests.timetable.replay import replay_server
from tests.web.tt_helpers import WEEK, calendar_bytes, weekly

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_upload_preview_confirm_and_week_view(
    chromium: Browser, demo_sqlite: Demo, tmp_path: Path
) -> None:
    """Upload, preview with its counts, confirm, progress, then the lessons in the week view."""
    demo = demo_sqlite
    file = tmp_path / "rooster-4A.ics"
    file.write_bytes(
        calendar_bytes(
            weekly("wi", at="0830", summary="wi - 4A - devries"),
            weekly("ne", at="0930", summary="ne - 4A - jansen"),
            weekly("gs", at="1100", summary="gs - 4A - devries", count=1),
        )
    )
    page = new_page(chromium)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, demo.url, "beheer", demo.school.passwords["beheer"])
    page.click("header nav a[href='/admin/timetable']")
    page.wait_for_url(demo.url + "/admin/timetable")
    page.click("nav.tt-tabs a[href='/admin/timetable/import']")
    page.set_input_files("input[name=file]", str(file))
    page.select_option("select[name=mapping]", "vak-klas-docent")
    page.click("form[action='/admin/timetable/import'] button[type=submit]")
    page.wait_for_selector(".tt-confirm", timeout=30_000)  # the progress page reloads by itself
    assert page.locator(".tile.tt-inserts .big").inner_text() == "5"
    assert page.locator(".tile.tt-removals .big").inner_text() == "0"
    assert "4A 5" in page.locator("main").inner_text()
    shoot(page, "timetable-preview")
    page.click(".tt-confirm button.primary")
    page.wait_for_selector("#tt-progress[data-state=done]", timeout=30_000)
    page.click("a[href='/admin/timetable/week']")
    page.select_option("select[name=group]", "4A")
    page.fill("input[name=week]", WEEK)
    page.click("form.tt-weekpick button[type=submit]")
    monday = page.locator(f".tt-day[data-day='{WEEK}'] .tt-block")
    expect(monday).to_have_count(3)  # waits for the week page the form submit loads
    assert "08:30–09:20" in monday.nth(0).inner_text() and "wi" in monday.nth(0).inner_text()
    first, third = monday.nth(0).bounding_box(), monday.nth(2).bounding_box()
    assert first is not None and third is not None and first["y"] < third["y"]
    shoot(page, "timetable-week")
    monday.nth(1).click()
    page.check("input[name=cancelled]")
    page.click("form.stack button.primary")
    page.wait_for_selector("p.flash")
    assert page.locator(f".tt-day[data-day='{WEEK}'] .tt-block.cancelled").count() == 1
    assert dialogs == []
    page.context.close()


def test_sources_page(chromium: Browser, demo_sqlite: Demo) -> None:
    """A feed added through the page syncs on request and shows its result, not its token."""
    demo = demo_sqlite
    allow_fetching_from(demo, "127.0.0.1")
    page = new_page(chromium)
    sign_in(page, demo.url, "beheer", demo.school.passwords["beheer"])
    with replay_server() as feed:
        feed.answer("/rooster.ics", calendar_bytes(weekly("f1")), kind="text/calendar")
        page.goto(demo.url + "/admin/timetable")
        form = page.locator("form:has(input[name=kind][value=ical_url])")
        form.locator("input[name=name]").fill("Zermelo iCal-feed 4A")
        form.locator("input[name=secret]").fill(f"{feed.url}/rooster.ics?token=GEHEIM-123")
        form.locator("select[name=mapping]").select_option("vak-klas-docent")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("p.flash")
        page.click("form[action$='/sync'] button")
        for _ in range(100):
            if page.locator("table.tt-sources .badge").count():
                break
            page.wait_for_timeout(100)
            page.reload()
        assert page.locator("table.tt-sources .badge").inner_text() in ("gelukt", "ok")
    assert "GEHEIM-123" not in page.content()
    shoot(page, "timetable-sources")
    page.context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_dutch_csv_through_the_upload_page(
    chromium: Browser, demo_sqlite: Demo, tmp_path: Path, width: int
) -> None:
    """The upload page shows the CSV columns without widening the page (a phone scrolls the
    table, not the page), and a file with the Dutch header reaches its preview."""
    file = tmp_path / "rooster.csv"
    file.write_bytes(
        b"datum;begin;eind;klas;vak;docent;lokaal\n30-11-2026;08:30;09:20;4A;wi;devries;217\n"
    )
    page = new_page(chromium)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, demo_sqlite.url, "beheer", demo_sqlite.school.passwords["beheer"])
    page.goto(demo_sqlite.url + "/admin/timetable/import")
    expect(page.locator("#tt-csv-columns tr[data-column]")).to_have_count(10)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.set_input_files("input[name=file]", str(file))
    page.click("form[action='/admin/timetable/import'] button[type=submit]")
    page.wait_for_selector(".tt-confirm", timeout=30_000)
    assert page.locator(".tile.tt-inserts .big").inner_text() == "1"
    page.context.close()
