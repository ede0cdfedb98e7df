"""The pages' data as JSON over real HTTP: reports, suppression, access, disclosure, permissions
reaching the agent config, admin pages, export and erasure, the public privacy page."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from policies import load_policy
from policies.explain import explain_data
from service import audit
from service.models import Device, DeviceLessonSummary, Lesson, Permission, School
from tests.support.web import TIMEOUT, Browser, Demo, signed_in


def config(demo: Demo, etag: str | None = None) -> requests.Response:
    token = next(iter(demo.school.device_tokens.values()))
    headers = {"Authorization": f"Bearer {token}"}
    if etag:
        headers["If-None-Match"] = etag
    return requests.get(demo.url + "/api/v1/agent/config", headers=headers, timeout=TIMEOUT)


def test_report_json_counts_and_suppression(demo: Demo) -> None:
    """The report counts devices per category; below 3 it reads "fewer than 3", never a number."""
    teacher = signed_in(demo, "devries")
    page = teacher.json(f"/lessons/{demo.school.lesson_in_progress}").json()
    assert page["devices_expected"] == 24
    assert 0 < page["devices_reporting"] <= 24
    assert page["suppressed_below"] == 3
    rows = page["categories"] + page["families"]
    rows += [c for b in page["timeline"] for c in b["categories"]]
    hidden = [r for r in rows if r["devices"] is None]
    assert hidden, "the demo has small counts, which must be suppressed"
    for row in rows:
        if row["devices"] is None:
            assert row.get("seconds") is None
        else:
            assert row["devices"] >= 3
    for row in page["categories"] + page["families"]:
        shown = "minder dan 3" if row["devices"] is None else str(row["devices"])
        assert row["devices_text"] == shown
    assert "<svg" in page["chart_svg"] and "minder dan 3" in page["chart_svg"]
    # The lesson is still running: a device that has not reported is "not yet", no failure.
    missing = page["devices_expected"] - page["devices_reporting"]
    assert page["still_reporting"] is True
    assert page["coverage_gaps"][0] == (
        "1 apparaat heeft nog niet gerapporteerd"
        if missing == 1
        else f"{missing} apparaten hebben nog niet gerapporteerd"
    )
    assert 'class="not-yet"' in page["chart_svg"] and "<desc" in page["chart_svg"]
    assert page["chart_table"]["rows"] and page["chart_table"]["categories"]
    assert [w["week"] for w in page["trend"]] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]


@pytest.mark.parametrize(
    ("who", "status"), [("devries", 200), ("jansen", 403), ("leiding", 200), ("beheer", 200)]
)
def test_who_reads_a_report(demo_sqlite: Demo, who: str, status: int) -> None:
    """The lesson's teacher, leaders and admins read it; another teacher gets 403."""
    answer = signed_in(demo_sqlite, who).json(f"/lessons/{demo_sqlite.school.lesson_in_progress}")
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"]["code"] == "forbidden"


def test_teacher_sees_only_own_lessons(demo_sqlite: Demo) -> None:
    """The week page lists a teacher's own lessons; a leader's lists the school's."""
    mine = signed_in(demo_sqlite, "devries").json("/lessons").json()
    groups = {lesson["group"] for day in mine["week"] for lesson in day["lessons"]}
    assert groups == {"3B"} and mine["scope"] == "own"
    school = signed_in(demo_sqlite, "leiding").json("/lessons").json()
    assert {lesson["group"] for day in school["week"] for lesson in day["lessons"]} == {"3B", "4A"}


def test_permission_grant_and_withdraw_reach_the_agent_config(demo: Demo) -> None:
    """A grant changes the config's ETag and lists the permission; a withdrawal does it again."""
    lesson = demo.school.lesson_in_progress
    first = config(demo)
    assert config(demo, first.headers["ETag"]).status_code == 304
    teacher = signed_in(demo, "devries")
    answer = teacher.post(
        f"/lessons/{lesson}/permissions", [("category", "social_media"), ("note", "project")]
    )
    assert answer.status_code == 303
    granted = config(demo, first.headers["ETag"])
    assert granted.status_code == 200
    [perm] = [p for p in granted.json()["permissions"] if p["lesson_id"] == lesson]
    assert perm["categories"] == ["social_media"] and perm["withdrawn_at"] is None
    report = teacher.json(f"/lessons/{lesson}").json()
    pid = report["permissions"][0]["id"]
    assert teacher.post(f"/lessons/{lesson}/permissions/{pid}/withdraw", {}).status_code == 303
    withdrawn = config(demo, granted.headers["ETag"])
    assert withdrawn.status_code == 200
    [perm] = [p for p in withdrawn.json()["permissions"] if p["lesson_id"] == lesson]
    assert perm["withdrawn_at"] == "2026-11-24T09:45:00Z"


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ([], 422, "choose at least one category"),
        ([("category", "video_call")], 422, "no permission can be given"),
        ([("category", "../../etc/passwd")], 422, "no permission can be given"),
        ([("category", "social_media"), ("note", "x" * 501)], 422, "at most 500"),
        ([("category", "social_media"), ("note", "a\x07b")], 422, "control characters"),
    ],
)
def test_bad_permission_forms_change_nothing(
    demo_sqlite: Demo, fields: list[tuple[str, str]], status: int, message: str
) -> None:
    """Each bad grant gets a clear message and stores no permission."""
    lesson = demo_sqlite.school.lesson_in_progress
    teacher = signed_in(demo_sqlite, "devries")
    answer = teacher.post(
        f"/lessons/{lesson}/permissions", fields, headers={"Accept": "application/json"}
    )
    assert answer.status_code == status
    assert message in answer.json()["error"]["message"]
    # On the page: the lesson's report again, the message beside the form, not an error page.
    page = teacher.post(f"/lessons/{lesson}/permissions", fields)
    assert page.status_code == status
    form = page.text.split('class="stack permission-form"', 1)[1].split("</form>", 1)[0]
    assert 'id="permission-error" role="alert"' in form
    assert page.text.count('name="category"') >= 1  # the form itself, to try again
    with demo_sqlite.sessions.begin() as s:
        assert s.scalar(select(func.count()).where(Permission.lesson_id == lesson)) == 0


def test_replayed_grant_and_withdrawal_are_refused(demo_sqlite: Demo) -> None:
    """The same grant posted twice and a withdrawal posted twice each answer 409 the second time."""
    lesson = demo_sqlite.school.lesson_in_progress
    teacher = signed_in(demo_sqlite, "devries")
    form = [("category", "social_media")]
    assert teacher.post(f"/lessons/{lesson}/permissions", form).status_code == 303
    again = teacher.post(f"/lessons/{lesson}/permissions", form)
    assert again.status_code == 409 and "deze toestemming geldt al" in again.text
    pid = teacher.json(f"/lessons/{lesson}").json()["permissions"][0]["id"]
    path = f"/lessons/{lesson}/permissions/{pid}/withdraw"
    assert teacher.post(path, {}).status_code == 303
    twice = teacher.post(path, {})
    assert twice.status_code == 409 and "deze toestemming is al ingetrokken" in twice.text
    with demo_sqlite.sessions.begin() as s:
        assert s.scalar(select(func.count()).where(Permission.lesson_id == lesson)) == 1


def test_permissions_close_when_the_lesson_ends(demo_sqlite: Demo) -> None:
    """After the lesson's end the form is gone and a grant is refused with 409."""
    lesson = demo_sqlite.school.lesson_in_progress
    with demo_sqlite.sessions.begin() as s:
        end = s.get_one(Lesson, lesson).end
    demo_sqlite.clock.now = end
    teacher = signed_in(demo_sqlite, "devries")
    assert teacher.json(f"/lessons/{lesson}").json()["can_change_permissions"] is False
    answer = teacher.post(f"/lessons/{lesson}/permissions", [("category", "social_media")])
    assert answer.status_code == 409


def test_device_level_view_follows_disclosure_needs_a_reason_and_is_audited(
    demo_sqlite: Demo,
) -> None:
    """Leaders see per-device data only at level pseudonymous, with a reason, audited."""
    demo = demo_sqlite
    lesson = demo.school.lesson_in_progress
    leader = signed_in(demo, "leiding")
    assert leader.get(f"/lessons/{lesson}/devices").status_code == 403
    assert leader.json(f"/lessons/{lesson}").json()["may_see_devices"] is False
    with demo.sessions.begin() as s:
        s.scalars(select(School)).one().disclosure = "pseudonymous"
    assert leader.get(f"/lessons/{lesson}/devices").status_code == 200
    short = leader.post(f"/lessons/{lesson}/devices", {"reason": "x"}, csrf_from="/lessons")
    assert short.status_code == 422
    hostile = "<img src=x onerror=alert(1)> melding ouder"
    answer = leader.post(f"/lessons/{lesson}/devices", {"reason": hostile})
    assert answer.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in answer.text and "<img src=x" not in answer.text
    assert "3B-" in answer.text
    with demo.sessions.begin() as s:
        [entry] = audit.entries(s, action="devices.view")
        assert (entry.actor, entry.object, entry.reason) == (
            "user:leiding",
            f"lesson:{lesson}",
            hostile,
        )
    teacher = signed_in(demo, "devries")
    assert teacher.get(f"/lessons/{lesson}/devices").status_code == 403


def test_attention_list_is_for_leaders_and_keeps_its_filters_in_urls(demo_sqlite: Demo) -> None:
    """Leaders get the heat map and rows (groups and subjects, no teacher, small counts hidden)
    with every filter kept in the sorting, paging and week links and in the form; the old
    address shows the same list; teachers get 403."""
    leader = signed_in(demo_sqlite, "leiding")
    chosen = "/attention?weeks=4&category=social_media&sort=change"
    page = leader.json(chosen).json()
    assert page["filters"] | {"page": 1} == {
        "group": None,
        "subject": None,
        "category": "social_media",
        "weeks": 4,
        "week": None,
        "sort": "change",
        "page": 1,
    }
    assert len(page["weeks"]) == 4 and page["heat_map"] and page["rows"]
    for group in page["heat_map"]:
        for cell in group["cells"]:
            assert cell["share"] is None or not cell["hidden"]
    assert all(set(r) & {"teacher", "teacher_id", "device_id"} == set() for r in page["rows"])
    changes = [r["change"] for r in page["rows"] if r["change"] is not None]
    assert changes == sorted(changes, reverse=True)
    for link in [*page["links"]["sort"].values(), page["links"]["earlier_weeks"]]:
        assert "weeks=4" in link and "category=social_media" in link, link
    assert "week=" in page["links"]["earlier_weeks"]
    html = leader.get(chosen).text
    assert '<option value="4" selected>' in html and 'value="social_media" selected' in html
    assert '<input type="hidden" name="sort" value="change">' in html
    old = leader.json("/escalations?weeks=4&category=social_media&sort=change").json()
    assert old["filters"] == page["filters"] and old["heat_map"] == page["heat_map"]
    assert leader.json("/attention?sort=teacher").status_code == 422
    assert signed_in(demo_sqlite, "devries").json("/attention").status_code == 403


def lessons_of(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [lesson for day in page["week"] for lesson in day["lessons"]]


def test_history_weeks_filters_and_trend_links(demo_sqlite: Demo) -> None:
    """The week before is one link away for everyone; a teacher sees only their own lessons
    there and may not filter by teacher; a leader's filters stay in the week links and the
    form; a trend row opens its week of the group."""
    teacher = signed_in(demo_sqlite, "devries")
    before = teacher.json("/lessons").json()["links"]["previous_week"]
    own = teacher.json(before).json()
    assert lessons_of(own) and {lesson["teacher"] for lesson in lessons_of(own)} == {"devries"}
    assert own["choices"] == {"groups": [], "teachers": [], "subjects": []}
    assert teacher.json(before + "&teacher=jansen").status_code == 403
    leader = signed_in(demo_sqlite, "leiding")
    school = leader.json(before).json()
    assert {"devries", "jansen"} <= {lesson["teacher"] for lesson in lessons_of(school)}
    chosen = before + "&teacher=jansen"
    page = leader.json(chosen).json()
    assert lessons_of(page) and {lesson["teacher"] for lesson in lessons_of(page)} == {"jansen"}
    for link in (page["links"]["previous_week"], page["links"]["next_week"]):
        assert "teacher=jansen" in link and "week=" in link, link
    assert "<option selected>jansen</option>" in leader.get(chosen).text
    lesson = lessons_of(school)[0]
    trend = leader.json(f"/lessons/{lesson['id']}").json()["trend"]
    week = leader.json(trend[-1]["href"]).json()
    assert lessons_of(week) and {x["group"] for x in lessons_of(week)} == {lesson["group"]}


def test_admin_sets_the_attention_threshold_audited(demo_sqlite: Demo) -> None:
    """The threshold on the school settings page changes which rows are listed, through the one
    settings operation (audited); a value out of bounds changes nothing."""
    admin = signed_in(demo_sqlite, "beheer")
    fields = {
        "retention_days": "28",
        "audit_retention_days": "365",
        "disclosure": "aggregate",
        "admin_disclosure": "aggregate",
        "small_count_threshold": "3",
    }
    assert 'name="attention_threshold" value="20"' in admin.get("/admin/school").text
    assert admin.json("/attention").json()["rows"], "the demo has groups over 20 %"
    refused = admin.post(
        "/admin/school", fields | {"attention_threshold": "0"}, csrf_from="/admin/school"
    )
    assert refused.status_code == 422
    saved = admin.post(
        "/admin/school", fields | {"attention_threshold": "95"}, csrf_from="/admin/school"
    )
    assert saved.status_code == 303
    page = admin.json("/attention").json()
    assert (page["threshold"], page["rows"]) == (95, [])
    with demo_sqlite.sessions.begin() as s:
        assert [e.action for e in audit.entries(s, action="school.settings")] == ["school.settings"]


def test_policy_override_is_validated_before_saving(demo_sqlite: Demo) -> None:
    """An invalid override shows the engine's line and problem beside the form, in the preview
    and when saved, and nothing is stored; a valid one is previewed in words (still nothing
    stored), then saved through the one operation, which audits it."""
    admin = signed_in(demo_sqlite, "beheer")
    bad = '# ours\n\n[[rule]]\nid = "a1-social-media"\n'
    for step in ("preview", "save"):
        answer = admin.post(
            "/admin/policy", {"override": bad, "step": step}, csrf_from="/admin/policy"
        )
        assert answer.status_code == 422
        assert "Regel 4: duplicate rule id &#39;a1-social-media&#39;" in answer.text
        assert 'id="policy-error"' in answer.text and 'id="policy-save-button"' not in answer.text
    with demo_sqlite.sessions.begin() as s:
        assert s.scalars(select(School)).one().policy_override is None
    good = '[rules."a1-video-streaming"]\nenabled = true\n'
    preview = admin.post(
        "/admin/policy", {"override": good, "step": "preview"}, csrf_from="/admin/policy"
    )
    assert preview.status_code == 200
    assert "Regel A.1 (a1-video-streaming) wordt aangezet" in preview.text
    assert 'id="policy-save-button"' in preview.text
    with demo_sqlite.sessions.begin() as s:
        assert s.scalars(select(School)).one().policy_override is None
        assert not [e for e in audit.entries(s) if e.action == "policy.save"]
    answer = admin.post(
        "/admin/policy", {"override": good, "step": "save"}, csrf_from="/admin/policy"
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/policy"
    with demo_sqlite.sessions.begin() as s:
        assert s.scalars(select(School)).one().policy_override == good
        assert [e.action for e in audit.entries(s)][-1] == "policy.save"
    # The page now shows the rule switched on, and previewing the same text changes nothing.
    page = admin.json("/policy").json()
    rules = {r["id"]: r for r in page["policy"]["rules"]}
    assert rules["a1-video-streaming"]["enabled"] is True and page["has_override"] is True
    again = admin.post(
        "/admin/policy", {"override": good, "step": "preview"}, csrf_from="/admin/policy"
    )
    assert "Er zou niets veranderen." in again.text


def test_staff_read_the_effective_policy_but_only_admins_change_it(demo_sqlite: Demo) -> None:
    """Teachers and leaders read the rules, apps and settings in force; no form, and a save or
    a preview of theirs is refused with nothing stored."""
    for who in ("devries", "leiding"):
        reader = signed_in(demo_sqlite, who)
        page = reader.get("/policy")
        assert page.status_code == 200
        assert 'id="policy-rules"' in page.text and 'id="policy-settings"' in page.text
        assert "elke 15 seconden" in page.text and 'id="policy-form"' not in page.text
        for step in ("preview", "save"):
            answer = reader.post(
                "/admin/policy",
                {"override": "[settings]\ngrace_seconds = 5\n", "step": step},
                csrf_from="/policy",
            )
            assert answer.status_code == 403, (who, step)
    with demo_sqlite.sessions.begin() as s:
        assert s.scalars(select(School)).one().policy_override is None


def test_export_and_erasure_of_one_device(demo_sqlite: Demo) -> None:
    """An access export holds the device's summaries; erasure removes them and the device."""
    demo = demo_sqlite
    admin = signed_in(demo, "beheer")
    device_id = next(iter(demo.school.device_tokens))
    export = admin.post(f"/admin/devices/{device_id}/export", {}, csrf_from="/admin/devices")
    assert export.status_code == 200
    assert "attachment" in export.headers["Content-Disposition"]
    data = export.json()
    assert data["device"]["id"] == device_id and data["summaries"]
    assert "token" not in data["device"]
    # Seen on the demo's school day: the day is kept, never the time (issue 15).
    assert data["device"]["last_seen"] == "2026-11-24"
    listed = admin.json("/admin/devices").json()["devices"]
    assert {d["last_seen"] for d in listed} == {"2026-11-24"}
    erased = admin.post(f"/admin/devices/{device_id}/erase", {}, csrf_from="/admin/devices")
    assert erased.status_code == 303
    with demo.sessions.begin() as s:
        assert s.get(Device, device_id) is None
        left = select(func.count()).where(DeviceLessonSummary.device_id == device_id)
        assert s.scalar(left) == 0
        actions = [e.action for e in audit.entries(s) if e.object == f"device:{device_id}"]
        assert actions[-2:] == ["device.export", "device.erase"]
    again = admin.post(f"/admin/devices/{device_id}/erase", {}, csrf_from="/admin/devices")
    assert again.status_code == 404


def test_csv_export_suppresses_small_counts_and_defuses_formulas(demo_sqlite: Demo) -> None:
    """The CSV has a row per lesson and category; small counts read "<3"."""
    admin = signed_in(demo_sqlite, "beheer")
    answer = admin.post(
        "/admin/export", {"first": "2026-11-23", "last": "2026-11-24"}, csrf_from="/admin/export"
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows and {r["group"] for r in rows} == {"3B", "4A"}
    for r in rows:
        assert r["devices"] == "<3" or r["devices"] == "0" or int(r["devices"]) >= 3
    bad = admin.post("/admin/export", {"first": "x", "last": "y"}, csrf_from="/admin/export")
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/admin/devices",
        "/admin/codes",
        "/admin/users",
        "/admin/policy",
        "/admin/school",
        "/admin/audit",
        "/admin/export",
    ],
)
def test_admin_pages_are_for_admins_only(demo_sqlite: Demo, path: str) -> None:
    """Admins get each admin page; teachers and leaders 403; anonymous visitors go to sign-in."""
    assert signed_in(demo_sqlite, "beheer").get(path).status_code == 200
    assert signed_in(demo_sqlite, "devries").get(path).status_code == 403
    assert signed_in(demo_sqlite, "leiding").get(path).status_code == 403
    anonymous = Browser(demo_sqlite.url).get(path)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")


def test_admin_creates_code_user_and_token(demo_sqlite: Demo) -> None:
    """An enrolment code and an API token are shown once (flash); a new user can sign in."""
    admin = signed_in(demo_sqlite, "beheer")
    answer = admin.post(
        "/admin/codes", {"group": "4A", "uses": "5", "days": "3"}, csrf_from="/admin/codes"
    )
    assert answer.status_code == 303
    assert "Nieuwe code voor 4A" in admin.get("/admin/codes").text
    answer = admin.post(
        "/admin/users",
        {"username": "<b>pieter</b>", "role": "teacher", "password": "long enough pw", "email": ""},
        csrf_from="/admin/users",
    )
    assert answer.status_code == 303
    page = admin.get("/admin/users").text
    assert "&lt;b&gt;pieter&lt;/b&gt;" in page and "<b>pieter</b>" not in page
    assert Browser(demo_sqlite.url).sign_in("<b>pieter</b>", "long enough pw").status_code == 303
    bad = admin.post(
        "/admin/users",
        {"username": "x", "role": "root", "password": "long enough pw"},
        csrf_from="/admin/users",
    )
    assert bad.status_code == 422 and "de rol moet een van deze zijn" in bad.text


@pytest.mark.parametrize(
    ("lang", "title"), [("nl", "Wat lessonwatch controleert"), ("en", "What lessonwatch checks")]
)
def test_privacy_page_is_public_and_in_both_languages(
    demo_sqlite: Demo, lang: str, title: str
) -> None:
    """Without signing in, the privacy page explains the active policy in the chosen language."""
    answer = Browser(demo_sqlite.url).json(f"/privacy?lang={lang}")
    assert answer.status_code == 200
    page = answer.json()
    assert page["title"] == title and page["lang"] == lang
    assert any(r["article"] == "A.1" for r in page["rules"])
    # When the device talks to the collector (issue 15, point 3), with the numbers in force.
    assert "07:00–17:00" in page["contact"] and "30" in page["contact"]
    html = Browser(demo_sqlite.url).get(f"/privacy?lang={lang}")
    shown = unescape(html.text)
    assert page["headings"]["contact"] in shown and page["contact"] in shown
    assert f'<html lang="{lang}">' in html.text
    assert html.cookies.get("lw_lang") == lang
    # What the collector keeps (issue 15): a keyed fingerprint, the day last seen, no addresses.
    kept = {
        "nl": ["geheime sleutel van school", "alleen de dag, niet de tijd", "internetadres"],
        "en": ["secret key of the school", "only the day, not the time", "internet address"],
    }
    assert [text in html.text for text in kept[lang]] == [True, True, True]
    # The browser extension, in the same words as `lessonwatch-agent explain` and its popup.
    browser = explain_data(load_policy(), "nl" if lang == "nl" else "en")["browser"]
    assert page["browser"] == browser and page["headings"]["browser"] in shown
    assert [text in shown for text in browser.values()] == [True] * 4


MENU = re.compile(r"<header[^>]*>.*?<nav[^>]*>(.*?)</nav>", re.S)
LINK = re.compile(r'href="([^"]+)"')


def test_the_menu_shows_exactly_the_pages_each_role_may_open(demo_sqlite: Demo) -> None:
    """The menu is built from the same abilities the pages check: every page in a user's menu
    opens for them, and every page of the admin's menu that is not in theirs is refused."""
    admin_menu = LINK.findall(
        MENU.findall(signed_in(demo_sqlite, "beheer").get("/lessons").text)[0]
    )
    assert len(admin_menu) > 5
    for user in ("beheer", "leiding", "devries"):
        browser = signed_in(demo_sqlite, user)
        menu = set(LINK.findall(MENU.findall(browser.get("/lessons").text)[0]))
        opens = {path for path in admin_menu if browser.get(path).status_code == 200}
        assert menu == opens, user
