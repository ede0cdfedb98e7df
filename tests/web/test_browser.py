"""The pages in Debian's Chromium, driven by Playwright, against a real collector on loopback.

Covers the issue's "done when": a teacher signs in, reads a populated lesson report (chart and
counts), grants a permission that an agent's next config fetch carries; another teacher gets 403;
a device label holding ``<script>`` is shown as text and never runs; a form posted without its
CSRF token is refused and changes nothing. Screenshots of the main pages: see browser_helpers.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Browser
from sqlalchemy import select

from service.models import Device, Permission
from tests.support.browser import new_page, shoot, sign_in
from tests.support.web import TIMEOUT, Demo, signed_in

HOSTILE_LABEL = "<script>window.__pwned=1</script>"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def agent_config(demo: Demo) -> requests.Response:
    token = next(iter(demo.school.device_tokens.values()))
    return requests.get(
        demo.url + "/api/v1/agent/config",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def test_teacher_reads_report_and_grants_permission_an_agent_then_carries(
    chromium: Browser, demo_sqlite: Demo
) -> None:
    """Sign in, read the populated report, grant a permission; the agent's next config has it."""
    demo, lesson = demo_sqlite, demo_sqlite.school.lesson_in_progress
    page = new_page(chromium)
    page.goto(demo.url + "/signin")
    shoot(page, "signin")
    sign_in(page, demo.url, "devries", demo.school.passwords["devries"])
    assert page.locator("table.data").first.is_visible()
    shoot(page, "teacher-week")

    expected = signed_in(demo, "devries").json(f"/lessons/{lesson}").json()
    page.goto(f"{demo.url}/lessons/{lesson}")
    assert page.locator("svg.chart rect").count() > 5
    assert page.locator("svg.chart text.tick").count() > 3
    rows = page.locator("#categories tbody tr")
    assert rows.count() == len(expected["categories"]) > 0
    for i, category in enumerate(expected["categories"]):
        assert rows.nth(i).locator("td").nth(1).inner_text() == category["devices_text"]
    assert page.locator("#devices-reporting").inner_text() == str(expected["devices_reporting"])
    shoot(page, "lesson-report")

    before = agent_config(demo)
    assert before.status_code == 200
    assert not [p for p in before.json()["permissions"] if p["lesson_id"] == lesson]
    page.check("input[name=category][value=social_media]")
    page.fill("input[name=note]", "Instagram-opdracht")
    page.click("form.permission-form button[type=submit]")
    page.wait_for_selector("p.flash")
    assert page.locator("ul.permissions li.active").count() == 1

    after = agent_config(demo)
    assert after.headers["ETag"] != before.headers["ETag"]
    carried = [p for p in after.json()["permissions"] if p["lesson_id"] == lesson]
    assert carried == [
        {
            "lesson_id": lesson,
            "categories": ["social_media"],
            "granted_at": "2026-11-24T09:45:00Z",
            "withdrawn_at": None,
        }
    ]
    page.context.close()


def test_another_teacher_gets_403_on_that_report(chromium: Browser, demo_sqlite: Demo) -> None:
    """A teacher opening a report of a lesson someone else teaches sees a 403 page."""
    page = new_page(chromium)
    sign_in(page, demo_sqlite.url, "jansen", demo_sqlite.school.passwords["jansen"])
    answer = page.goto(f"{demo_sqlite.url}/lessons/{demo_sqlite.school.lesson_in_progress}")
    assert answer is not None and answer.status == 403
    assert page.locator("p.problem").is_visible()
    assert page.locator("svg.chart").count() == 0
    page.context.close()


def test_hostile_device_label_is_shown_escaped_and_never_runs(
    chromium: Browser, demo_sqlite: Demo
) -> None:
    """An admin stores a label holding a script tag; the page shows it as text, no script runs."""
    demo = demo_sqlite
    page = new_page(chromium)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, demo.url, "beheer", demo.school.passwords["beheer"])
    page.goto(demo.url + "/admin/devices")
    first = page.locator("#devices tbody tr").first
    first.locator("input[name=label]").fill(HOSTILE_LABEL)
    first.locator("form.row button[type=submit]").click()
    page.wait_for_selector("p.flash")
    assert page.locator("span.label", has_text=HOSTILE_LABEL).count() == 1
    assert page.evaluate("window.__pwned") is None
    assert HOSTILE_LABEL not in page.content().replace("&lt;", "<").split("<body", 1)[0]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page.content()
    assert dialogs == []
    with demo.sessions.begin() as s:
        assert s.scalar(select(Device).where(Device.label == HOSTILE_LABEL)) is not None
    page.goto(demo.url + "/admin/devices")
    shoot(page, "admin-devices", full_page=False)
    page.context.close()


def test_form_without_csrf_token_is_refused_and_changes_nothing(
    chromium: Browser, demo_sqlite: Demo
) -> None:
    """Removing the hidden CSRF field before submitting gets a 403 page and no permission."""
    demo, lesson = demo_sqlite, demo_sqlite.school.lesson_in_progress
    page = new_page(chromium)
    sign_in(page, demo.url, "devries", demo.school.passwords["devries"])
    page.goto(f"{demo.url}/lessons/{lesson}")
    page.check("input[name=category][value=social_media]")
    page.evaluate("document.querySelector('form.permission-form input[name=csrf]').remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form.permission-form button[type=submit]")
    assert posted.value.status == 403
    assert page.locator("p.problem").is_visible()
    with demo.sessions.begin() as s:
        assert s.scalars(select(Permission).where(Permission.lesson_id == lesson)).all() == []
    page.context.close()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_public_privacy_page(chromium: Browser, demo_sqlite: Demo, lang: str) -> None:
    """Anyone can read what is checked, in Dutch and in English, without signing in."""
    page = new_page(chromium)
    answer = page.goto(f"{demo_sqlite.url}/privacy?lang={lang}")
    assert answer is not None and answer.status == 200
    title = {"nl": "Wat lessonwatch controleert", "en": "What lessonwatch checks"}[lang]
    assert title in page.locator("h1").inner_text()
    assert page.locator("html").get_attribute("lang") == lang
    if lang == "nl":
        shoot(page, "privacy")
    page.context.close()
