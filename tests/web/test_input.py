"""Bad input on the pages: malformed, oversized, hostile and odd ids each get a clear answer,
never a 500, and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.models import AuditEntry, Permission
from tests.support.web import Demo, signed_in


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"category=social_media&csrf=" + b"x" * 300_000, "application/x-www-form-urlencoded", 413),
        (b'{"category": "social_media"}', "application/json", 415),
        (b"category=\xff\xfe", "application/x-www-form-urlencoded", 422),
        (b"&".join(b"f%d=1" % i for i in range(500)), "application/x-www-form-urlencoded", 422),
        (b"note=a%00b", "application/x-www-form-urlencoded", 422),
    ],
)
def test_malformed_and_oversized_forms(
    demo_sqlite: Demo, body: bytes, content_type: str, status: int
) -> None:
    """Too large, wrong type, bad UTF-8, too many fields, NUL: each refused before any change."""
    teacher = signed_in(demo_sqlite, "devries")
    lesson = demo_sqlite.school.lesson_in_progress
    answer = teacher.http.post(
        f"{demo_sqlite.url}/lessons/{lesson}/permissions",
        data=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == status
    assert answer.json()["error"]["message"]
    with demo_sqlite.sessions.begin() as s:
        assert s.scalar(select(func.count()).where(Permission.lesson_id == lesson)) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/lessons/..%2F..%2Fetc%2Fpasswd",
        "/lessons/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/lessons/" + "x" * 70,
        "/lessons/l_doesnotexist",
        "/lessons/l_doesnotexist/devices",
    ],
)
def test_odd_lesson_ids_get_404_and_are_not_echoed_raw(demo_sqlite: Demo, path: str) -> None:
    """Traversal, markup and overlong ids are just unknown lessons; nothing is echoed unescaped."""
    answer = signed_in(demo_sqlite, "beheer").get(path)
    assert answer.status_code in (403, 404)
    assert "<script>alert(1)" not in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/devices/..%2F..%2Fetc/retire",
        "/admin/devices/d_nothere/erase",
        "/admin/users/99999999999999/tokens",
        "/admin/users/-1/disabled",
        "/lessons/l_x/permissions/abc/withdraw",
    ],
)
def test_odd_ids_in_admin_actions_get_404(demo_sqlite: Demo, path: str) -> None:
    """Unknown or malformed ids in actions are 404 with a message, and nothing is audited."""
    admin = signed_in(demo_sqlite, "beheer")
    with demo_sqlite.sessions.begin() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    answer = admin.post(path, {"disabled": "1"}, csrf_from="/admin/users")
    assert answer.status_code == 404, answer.text
    with demo_sqlite.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/admin/codes", {"group": "4A", "uses": "-1", "days": "3"}),
        ("/admin/codes", {"group": "4A", "uses": "1e9", "days": "3"}),
        ("/admin/codes", {"group": "nope", "uses": "3", "days": "3"}),
        ("/admin/school", {"retention_days": "0", "small_count_threshold": "3"}),
        (
            "/admin/school",
            {
                "retention_days": "28",
                "small_count_threshold": "3",
                "disclosure": "everything",
                "admin_disclosure": "aggregate",
            },
        ),
        ("/admin/users", {"username": "", "role": "teacher", "password": "long enough pw"}),
        ("/admin/users", {"username": "kim", "role": "teacher", "password": "short"}),
        # No password and no e-mail address for SSO: nobody could ever sign in.
        ("/admin/users", {"username": "kim", "role": "teacher", "password": ""}),
        ("/admin/users", {"username": "beheer", "role": "admin", "password": "long enough pw"}),
        ("/admin/policy", {"override": "x" * 200_001}),
    ],
)
def test_bad_admin_forms_get_a_message(
    demo_sqlite: Demo, path: str, fields: dict[str, str]
) -> None:
    """Out-of-range numbers, unknown groups and roles, duplicates: 4xx with a message, no 500."""
    admin = signed_in(demo_sqlite, "beheer")
    answer = admin.post(path, fields, csrf_from=path, headers={"Accept": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text


def test_hostile_note_is_stored_as_text_and_shown_escaped(demo_sqlite: Demo) -> None:
    """Markup in a permission note comes back escaped on the page and verbatim in the JSON."""
    teacher = signed_in(demo_sqlite, "devries")
    lesson = demo_sqlite.school.lesson_in_progress
    note = '"><script>alert(1)</script>'
    form = [("category", "social_media"), ("note", note)]
    assert teacher.post(f"/lessons/{lesson}/permissions", form).status_code == 303
    page = teacher.get(f"/lessons/{lesson}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert teacher.json(f"/lessons/{lesson}").json()["permissions"][0]["note"] == note
