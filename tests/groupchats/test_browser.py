"""The register in Debian's Chromium, driven by Playwright, against a real collector on loopback:
a teacher registers a WhatsApp class group and reads the B.1 message; the admin switches the
school to a closed platform and the overview flags a Telegram group. Screenshots of the form and
the overview go to test-artifacts/screenshots/ (docs/screenshots/ with
LESSONWATCH_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import browser as browser_helpers
from tests.support.browser import new_page, shoot
from tests.support.web import Demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sign_in(page: Page, demo: Demo, username: str) -> None:
    browser_helpers.sign_in(page, demo.url, username, demo.school.passwords[username])


def register(page: Page, demo: Demo, *, group: str, platform: str, youngest: str) -> None:
    page.goto(demo.url + "/groupchats")
    page.click("a[href='/groupchats/new']")
    page.fill("input[name=group]", group)
    page.select_option("select[name=platform]", platform)
    page.select_option("select[name=account]", "school")
    page.check("input[name=purposes][value=homework]")
    page.check("input[name=purposes][value=cancelled_lessons]")
    page.fill("input[name=pupils_in_class]", "27")
    page.fill("input[name=pupils_in_chat]", "25")
    page.fill("input[name=youngest_age]", youngest)
    page.check("input[name=parental_consent]")
    page.select_option("select[name=alternative]", "mail")


def test_whatsapp_group_gets_b1_and_a_closed_platform_flags_telegram(
    chromium: Browser, demo_sqlite: Demo
) -> None:
    """Register WhatsApp and Telegram groups; B.1 for WhatsApp at once, for Telegram after the
    admin chose Parro, on the overview."""
    demo = demo_sqlite
    page = new_page(chromium)
    sign_in(page, demo, "devries")

    register(page, demo, group="3B", platform="whatsapp", youngest="14")
    page.fill("input[name=pupils_in_chat]", "30")  # more than the class: refused at the field
    page.click("form.chat-form button[type=submit]")
    expect(page.locator("#error-pupils_in_chat")).to_be_visible()  # after the page reloads
    assert "30" in page.locator("#error-pupils_in_chat").inner_text()
    assert page.input_value("input[name=group]") == "3B"
    shoot(page, "groupchat-form")

    page.fill("input[name=pupils_in_chat]", "25")
    page.click("form.chat-form button[type=submit]")
    page.wait_for_selector("p.flash")
    finding = page.locator("#findings li[data-code=whatsapp]")
    assert finding.is_visible()
    assert "B.1" in finding.inner_text()
    assert "WhatsApp nooit toe" in finding.inner_text()

    register(page, demo, group="4A", platform="telegram", youngest="16")
    page.click("form.chat-form button[type=submit]")
    page.wait_for_selector("#no-findings")

    admin = new_page(chromium)
    sign_in(admin, demo, "beheer")
    admin.goto(demo.url + "/groupchats/overview")
    assert admin.locator("#flagged td[data-code=closed_platform_available]").count() == 0
    admin.goto(demo.url + "/admin/school")
    admin.select_option("select[name=closed_platform]", "parro")
    admin.click("form.closed-platform button[type=submit]")
    admin.wait_for_selector("p.flash")
    admin.goto(demo.url + "/groupchats/overview")
    flagged = admin.locator("#flagged td[data-code=closed_platform_available]")
    assert flagged.count() == 2  # the Telegram group, and the WhatsApp group once more
    assert "Telegram" in admin.locator("#flagged").inner_text()
    assert admin.locator("#chats-violations").inner_text() == "2"
    assert (
        admin.locator("#codes tr[data-code=closed_platform_available] td.num").inner_text() == "2"
    )
    shoot(admin, "groupchat-overview")
