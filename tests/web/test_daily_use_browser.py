"""Issue 17's points as the people who use them would, in Debian's Chromium against a real
collector: a teacher goes back a week and reads a report whose chart explains itself, and sees
"not yet" during a lesson; a leader on a phone filters the lessons and reads the attention list;
an admin previews a policy override (an error beside the form, then the changes in words) and
filters the audit log. The walk in test_every_page.py checks every page's width, axe-core and
times; this test checks what the pages do. One browser context per person, few page loads."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import sign_in
from tests.support.web import Demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def person(chromium: Browser, demo: Demo, username: str, width: int) -> Page:
    context = chromium.new_context(viewport={"width": width, "height": 900}, locale="nl-NL")
    page = context.new_page()
    sign_in(page, demo.url, username, demo.school.passwords[username])
    return page


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_teacher_leader_and_admin_use_history_chart_attention_policy_and_audit(
    chromium: Browser, demo_sqlite: Demo
) -> None:
    demo = demo_sqlite
    # A teacher goes back a week (history, point 2) and opens a report from it (point 4).
    teacher = person(chromium, demo, "devries", 1280)
    teacher.click("nav.week-nav a[rel=prev]")
    assert "week" in query(teacher) or "from" in query(teacher)
    last_week = teacher.locator("table.data a[href^='/lessons/l_']")
    assert last_week.count() > 0
    last_week.first.click()
    chart = teacher.locator("svg#lesson-chart")
    assert chart.get_attribute("role") == "img"
    assert teacher.locator("#chart-title").text_content()
    assert teacher.locator("#chart-desc").text_content()
    assert teacher.locator("#chart-table tbody tr").count() > 0
    # During the lesson the part still to come reads "not yet", not a failure.
    teacher.goto(f"{demo.url}/lessons/{demo.school.lesson_in_progress}")
    assert teacher.locator("svg#lesson-chart rect.not-yet").count() == 1
    assert "nog niet" in teacher.locator("main").inner_text()
    teacher.context.close()

    # A leader on a phone filters the week by group; the filter stays in the URL and the form.
    leader = person(chromium, demo, "leiding", 390)
    groups = leader.locator("form.history-filters select[name=group] option")
    group = next(v for v in groups.all_text_contents() if v.strip() and v != "alle")
    leader.select_option("form.history-filters select[name=group]", group)
    leader.locator("form.history-filters button[type=submit]").click()
    assert query(leader)["group"] == [group]
    assert leader.locator("form.history-filters select[name=group]").input_value() == group
    assert fits(leader)
    # The attention list (point 3): a heat map of groups by week, and no column of people.
    leader.goto(demo.url + "/attention")
    assert leader.locator("table.heat-map tbody tr").count() > 0
    headers = " ".join(leader.locator("table th").all_text_contents()).lower()
    assert "docent" not in headers and "leerling" not in headers
    assert fits(leader)
    leader.context.close()

    # An admin previews an override (point 8): an error beside the form, then the changes.
    admin = person(chromium, demo, "beheer", 1280)
    admin.goto(demo.url + "/policy")
    admin.fill("#policy-text", "[settings]\ngrace_seconds = 'soon'\n")
    admin.click("#policy-preview-button")
    assert admin.locator("#policy-error").is_visible()
    assert admin.locator("#policy-save-button").count() == 0
    admin.fill("#policy-text", "[settings]\ngrace_seconds = 30\n")
    admin.click("#policy-preview-button")
    changes = admin.locator("#policy-preview ul.policy-diff li").all_text_contents()
    assert any("30" in change for change in changes), changes
    # The audit log (point 7) in words, filtered by action, the filter kept in the URL.
    admin.goto(demo.url + "/admin/audit")
    action = admin.locator("form.audit-filters select[name=action] option").nth(1)
    value = action.get_attribute("value")
    assert value
    admin.select_option("form.audit-filters select[name=action]", value)
    admin.locator("form.audit-filters button[type=submit]").click()
    assert query(admin)["action"] == [value]
    admin.context.close()
