"""Every page, as a teacher, a leader and an admin, at 1280 px and at a phone's 390 px, in
Debian's Chromium (issue 17's "done when"): no page scrolls sideways at 390 px, axe-core finds
no serious or critical WCAG 2.1 A/AA violation, and the times a page shows are the school's
local time.

The pages come from the app's route table, so a page added later is walked without editing
this test; a path parameter nobody has named yet fails it, asking for the demo's value. A role
walks what it may open (a 403 is a page not open to it). It is the suite's most expensive
browser test, kept down: one browser context per role, one tab loaded page after page and
resized in place, a page not open to the role asked without rendering, axe-core handed to
Chromium once per context and run once per page (about 22 CPU seconds for the three roles).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.routing import iter_route_contexts
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from service.groupchats import register as groupchats
from service.models import Lesson, School, User
from tests.support import axe
from tests.support.axe import violations
from tests.support.browser import new_page, shoot, sign_in
from tests.support.page_checks import unnamed, wrong_times
from tests.support.web import Demo
from tests.web.tt_helpers import calendar_bytes, weekly

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDE, PHONE = 1280, 390
HEIGHT = {WIDE: 900, PHONE: 844}
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# Page routes that are no page of their own: the root redirects, SSO hands over to a provider.
NOT_PAGES = {"/", "/auth/oidc/start", "/auth/oidc/callback"}
PUBLIC = ["/signin", "/privacy"]
SHOWN_DEVICES = "/lessons/{lid}/devices (shown)"  # the per-device view, once a reason is given
# (role, username); the walk of each role opens every page the route table lists.
ROLES = [("teacher", "devries"), ("leader", "leiding"), ("admin", "beheer")]
# A few pages also go to docs/screenshots/ at a phone's width, its first screen (docs/web.md).
PHONE_SHOTS = {
    ("teacher", "/lessons"): "phone-week",
    ("teacher", "/lessons/{lid}"): "phone-report",
    ("admin", "/admin/devices"): "phone-admin-devices",
    ("admin", "/admin/timetable/week"): "phone-timetable-week",
}


def page_routes(demo: Demo) -> list[str]:
    """The paths of every HTML page (GET, not in the API's schema), with their parameters."""
    found = []
    for route in iter_route_contexts(demo.live.app.routes):
        if not route.methods or "GET" not in route.methods or route.path is None:
            continue
        if route.include_in_schema or route.path in NOT_PAGES or route.path == "/openapi.json":
            continue
        found.append(route.path)
    assert "/lessons/{lid}" in found and "/admin/audit" in found, "the route table was not read"
    return found


@dataclass
class Walk:
    """What one role's walk found wrong, page by page: reported all at once at the end."""

    role: str
    tz: ZoneInfo
    problems: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # the route templates, as the table names them

    def check(self, page: Page, name: str, *, extra: Callable[[Page], None] | None = None) -> None:
        """The page (``name``d by its route) at both widths, from the one it was loaded at, so
        one resize covers both: at each, no wider than the window; at 390 px, axe; its times.

        axe runs once per page, at the phone's width: that is where the layout differs (tables
        as cards, headers hidden from view), while colours, names, landmarks and headings are
        the same at both widths.
        """
        self.seen.append(name)
        self.problems += [f"{name}: {p}" for p in wrong_times(page, self.tz)]
        if extra is not None:
            extra(page)
        loaded = width(page)
        for size in (loaded, PHONE if loaded == WIDE else WIDE):
            if size != width(page):
                page.set_viewport_size({"width": size, "height": HEIGHT[size]})
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > size:
                self.problems.append(f"{name} at {size} px scrolls sideways: {wide} px wide")
            if size == PHONE:
                self.problems += [f"{name}: {v}" for v in violations(page)]
                self.problems += [f"{name}: unnamed on a phone: {c!r}" for c in unnamed(page)]


def width(page: Page) -> int:
    size = page.viewport_size
    assert size is not None
    return size["width"]


@dataclass(frozen=True)
class DemoIds:
    """The demo's values for every path parameter a page takes, by its name."""

    values: dict[str, str]

    def fill(self, template: str) -> str:
        unknown = [n for n in _PARAM.findall(template) if n not in self.values]
        if unknown:
            pytest.fail(
                f"{template} takes {', '.join(unknown)}: add the demo's value for it to "
                "demo_ids() in tests/web/test_every_page.py"
            )
        return _PARAM.sub(lambda m: self.values[m.group(1)], template)


def demo_ids(demo: Demo, upload_id: str) -> DemoIds:
    """A lesson devries teaches (in progress), a group chat he registers, the admin's upload.
    The school also lets leaders and admins see per-device data, so the device view is walked.
    """
    with demo.sessions.begin() as s:
        school = s.scalars(select(School)).one()
        school.disclosure = school.admin_disclosure = "pseudonymous"
        devries = s.scalars(select(User).where(User.username == "devries")).one()
        chat = groupchats.register(
            s,
            viewer=devries,
            raw={
                "group": "3B",
                "platform": "whatsapp",
                "account": "private",
                "purposes": ["homework", "trips"],
                "pupils_in_class": 28,
                "pupils_in_chat": 27,
                "youngest_age": 13,
                "parental_consent": False,
                "alternative": "none",
            },
            catalog=groupchats.shipped_catalog(),
            now=demo.clock(),
        )
        chat_id = str(chat.id)
    lesson = demo.school.lesson_in_progress
    return DemoIds({"lid": lesson, "cid": chat_id, "uid": upload_id})


def upload_timetable(page: Page, demo: Demo, tmp_path: Path) -> str:
    """The admin uploads a small timetable file; the id of its preview page, once ready."""
    file = tmp_path / "rooster-4A.ics"
    file.write_bytes(calendar_bytes(weekly("wi", at="0830", summary="wi - 4A - devries")))
    page.goto(demo.url + "/admin/timetable/import")
    page.set_input_files("input[name=file]", str(file))
    page.select_option("select[name=mapping]", "vak-klas-docent")
    page.click("form[action='/admin/timetable/import'] button[type=submit]")
    page.wait_for_selector(".tt-confirm", timeout=30_000)  # the progress page reloads itself
    return page.url.rsplit("/", 1)[1]


def known_times(demo: Demo, tz: ZoneInfo) -> dict[str, Callable[[Page], None]]:
    """Pages with a moment the walk knows, shown in the school's time: the report of the lesson
    in progress, its start; the audit log, the admin's own sign-in just now (the demo's clock).
    Where a page marks its times up as ``<time datetime>``, wrong_times checks every one."""
    with demo.sessions.begin() as s:
        start = s.get_one(Lesson, demo.school.lesson_in_progress).start

    def shows(moment: datetime, what: str) -> Callable[[Page], None]:
        local = f"{moment.astimezone(tz):%H:%M}"

        def check(page: Page) -> None:
            assert local in page.locator("main").inner_text(), f"{what} is not shown as {local}"

        return check

    return {
        "/lessons/{lid}": shows(start, "the lesson's start"),
        "/admin/audit": shows(demo.clock(), "the sign-in just now"),
    }


def school_zone(demo: Demo) -> ZoneInfo:
    with demo.sessions.begin() as s:
        return ZoneInfo(s.scalars(select(School.timezone)).one())


def walk_role(chromium: Browser, demo: Demo, role: str, username: str, tmp_path: Path) -> Walk:
    tz = school_zone(demo)
    walk = Walk(role, tz)
    page = new_page(chromium)
    axe.install(page.context)
    if role == "teacher":  # the public pages, before anyone signs in
        for path in PUBLIC:
            page.goto(demo.url + path)
            walk.check(page, path)
    sign_in(page, demo.url, username, demo.school.passwords[username])
    upload = upload_timetable(page, demo, tmp_path) if role == "admin" else "u_nothing"
    ids = demo_ids(demo, upload)
    known = known_times(demo, tz)
    for template in page_routes(demo):
        if template in PUBLIC:
            continue
        path = ids.fill(template)
        # Asked without rendering first: a page not open to the role costs no page load.
        status = page.request.get(demo.url + path, max_redirects=0).status
        if status == 403:
            continue
        assert status == 200, f"{path} answered {status} to the {role}"
        answer = page.goto(demo.url + path)
        assert answer is not None and answer.status == 200, path
        walk.check(page, template, extra=known.get(template))
        if (role, template) in PHONE_SHOTS:
            page.set_viewport_size({"width": PHONE, "height": HEIGHT[PHONE]})
            shoot(page, PHONE_SHOTS[role, template], full_page=False)
        if template == "/lessons/{lid}/devices":  # the per-device view, after giving a reason
            page.fill("textarea[name=reason]", "Vraag van ouders over deze les")
            page.click("form button[type=submit].primary")
            page.wait_for_selector("main h1")
            walk.check(page, SHOWN_DEVICES)
    page.context.close()
    return walk


# Pages each role must have reached: a walk that quietly saw nothing would pass otherwise.
MUST_SEE = {
    "teacher": {"/signin", "/privacy", "/lessons", "/lessons/{lid}", "/groupchats/{cid}"},
    "leader": {"/lessons", SHOWN_DEVICES, "/attention", "/groupchats/overview"},
    "admin": {"/admin/devices", SHOWN_DEVICES, "/admin/timetable/import/{uid}", "/admin/audit"},
}


@pytest.mark.parametrize(("role", "username"), ROLES, ids=[r for r, _ in ROLES])
def test_every_page_fits_a_phone_passes_axe_and_shows_local_times(
    chromium: Browser, demo_sqlite: Demo, tmp_path: Path, role: str, username: str
) -> None:
    """Each page the role may open: no sideways scroll at 390 px, no serious or critical
    axe-core violation, every <time> in the school's zone."""
    walk = walk_role(chromium, demo_sqlite, role, username, tmp_path)
    assert MUST_SEE[role] <= set(walk.seen), walk.seen
    assert walk.problems == [], "\n".join(walk.problems)
