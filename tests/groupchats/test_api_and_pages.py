"""The register over HTTP on a real collector: the JSON API with personal tokens (422 with the
field errors, oversized, hostile and replayed input), the pages' forms with their messages next
to the fields, CSRF, escaping, the overview and the CSV export."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

import pytest
import requests

from service import audit
from service.accounts import users
from service.models import GroupChat, User
from tests.groupchats.gc_helpers import chat
from tests.support.actors import operator_for
from tests.support.web import TIMEOUT, Demo, signed_in


def token(demo: Demo, username: str) -> str:
    with demo.sessions.begin() as s:
        viewer = s.query(User).filter_by(username=username).one()
        return users.create_token(s, actor=operator_for(viewer), user=viewer, now=demo.clock())


def api(demo: Demo, method: str, path: str, tok: str | None, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    return requests.request(
        method, demo.url + "/api/v1/groupchats" + path, headers=headers, timeout=TIMEOUT, **kw
    )


def count(demo: Demo) -> int:
    with demo.sessions.begin() as s:
        return s.query(GroupChat).count()


def test_api_registers_a_whatsapp_chat_and_returns_its_b1_finding(demo: Demo) -> None:
    """POST a WhatsApp class group: 201 with the B.1 violation explained in the user's language."""
    tok = token(demo, "devries")
    answer = api(demo, "POST", "", tok, json=chat(platform="whatsapp"))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert [(f["code"], f["article"], f["severity"]) for f in body["findings"]] == [
        ("whatsapp", "B.1", "violation")
    ]
    assert "Artikel B.1" in body["findings"][0]["explanation"]
    english = api(demo, "GET", f"/{body['id']}?lang=en", tok).json()
    assert "Article B.1" in english["findings"][0]["explanation"]
    assert api(demo, "GET", "", tok).json()["chats"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    ("body", "fields", "words"),
    [
        # Unknown platform.
        (chat(platform="myspace"), ["platform"], "Unknown platform"),
        # Impossible counts: more members than pupils.
        (chat(pupils_in_chat=40), ["pupils_in_chat"], "More pupils in the chat (40)"),
        # Missing fields, each named.
        ({"group": "3B"}, ["platform", "account", "purposes"], "This field is missing"),
        # Content, names and phone numbers have nowhere to go.
        ({**chat(), "members": ["Sanne"]}, ["chat"], "Unknown field 'members'"),
        ({**chat(), "phone_numbers": ["0612345678"]}, ["chat"], "Unknown field 'phone_numbers'"),
        # Wrong types and hostile text.
        (chat(youngest_age="14"), ["youngest_age"], "whole number"),
        (chat(parental_consent="yes"), ["parental_consent"], "Yes or no"),
        (chat(group="3B\u202e"), ["group"], "plain characters"),
        (chat(group="x" * 41), ["group"], "plain characters"),
        ([chat()], ["chat"], "Expected an object"),
    ],
)
def test_api_refuses_bad_chats_with_the_field_errors(
    demo_sqlite: Demo, body: Any, fields: list[str], words: str
) -> None:
    """A bad chat gets 422 invalid_chat naming each bad field, and nothing is stored."""
    answer = api(demo_sqlite, "POST", "?lang=en", token(demo_sqlite, "devries"), json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_chat"
    assert set(fields) <= set(error["fields"])
    assert words in " ".join(error["fields"].values())
    assert count(demo_sqlite) == 0


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"NaN", 400, "invalid_json"),
        (json.dumps({**chat(), "pad": "x" * 2_000_000}).encode(), 413, "body_too_large"),
    ],
)
def test_api_refuses_malformed_and_oversized_bodies(
    demo_sqlite: Demo, data: bytes, status: int, code: str
) -> None:
    """Not JSON, or larger than the limit: the usual error, and nothing stored."""
    tok = token(demo_sqlite, "devries")
    answer = requests.post(
        demo_sqlite.url + "/api/v1/groupchats",
        data=data,
        headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert count(demo_sqlite) == 0


def test_api_needs_a_personal_token_and_the_right_role(demo_sqlite: Demo) -> None:
    """No token, a device token or a bad token: 401; a teacher may not read the overview."""
    demo = demo_sqlite
    device = next(iter(demo.school.device_tokens.values()))
    for tok in (None, device, "lwu_nonsense"):
        assert api(demo, "GET", "", tok).status_code == 401
        assert api(demo, "POST", "", tok, json=chat()).status_code == 401
    teacher = token(demo, "devries")
    assert api(demo, "GET", "/overview", teacher).status_code == 403
    assert api(demo, "GET", "/export.csv", teacher).status_code == 403
    assert (
        api(demo, "PUT", "/school", teacher, json={"closed_platform": "parro"}).status_code == 403
    )
    assert api(demo, "GET", "/999999", teacher).status_code == 404
    assert api(demo, "GET", "/abc", teacher).status_code == 422


def test_api_replays_are_refused_or_idempotent(demo_sqlite: Demo) -> None:
    """A replayed POST is a conflict; a replayed PUT leaves the same chat."""
    demo, tok = demo_sqlite, token(demo_sqlite, "devries")
    first = api(demo, "POST", "", tok, json=chat())
    assert first.status_code == 201
    assert api(demo, "POST", "", tok, json=chat()).status_code == 409
    cid = first.json()["id"]
    changed = [api(demo, "PUT", f"/{cid}", tok, json=chat(pupils_in_chat=20)) for _ in range(2)]
    assert [a.status_code for a in changed] == [200, 200]
    assert changed[0].json()["findings"] == changed[1].json()["findings"] == []
    assert count(demo) == 1
    assert api(demo, "DELETE", f"/{cid}", tok).status_code == 204
    assert api(demo, "DELETE", f"/{cid}", tok).status_code == 404


def test_school_adopting_a_closed_platform_flags_telegram_on_the_overview(demo: Demo) -> None:
    """After the admin sets Parro, the overview counts the Telegram chat under B.1."""
    teacher, admin = token(demo, "devries"), token(demo, "beheer")
    made = api(demo, "POST", "", teacher, json=chat(platform="telegram", youngest_age=16))
    assert made.json()["findings"] == []
    before = api(demo, "GET", "/overview", admin).json()
    assert before["chats_with_violations"] == 0
    answer = api(demo, "PUT", "/school", admin, json={"closed_platform": "parro"})
    assert answer.json() == {"closed_platform": "parro", "rechecked": 1}
    after = api(demo, "GET", "/overview", admin).json()
    assert after["chats_with_violations"] == 1
    codes = {c["code"]: c["chats"] for c in after["codes"]}
    assert codes["closed_platform_available"] == 1
    assert {a["article"]: a["violations"] for a in after["articles"]} == {"A.6": 0, "B.1": 1}
    assert [c["id"] for c in after["flagged"]] == [made.json()["id"]]
    bad = api(demo, "PUT", "/school", admin, json={"closed_platform": "telegram"})
    assert bad.status_code == 422
    assert list(bad.json()["error"]["fields"]) == ["closed_platform"]


def test_csv_export_lists_the_register_with_formulas_defused(demo_sqlite: Demo) -> None:
    """The leader's CSV has one row per chat, by group name, with its codes; a formula-like
    group is quoted."""
    demo = demo_sqlite
    api(demo, "POST", "", token(demo, "devries"), json=chat(group="=HYPERLINK(1)"))
    api(demo, "POST", "", token(demo, "jansen"), json=chat(group="4A", platform="whatsapp"))
    answer = api(demo, "GET", "/export.csv", token(demo, "leiding"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["group"], r["codes"], r["articles"]) for r in rows] == [
        ("4A", "whatsapp", "B.1"),
        ("'=HYPERLINK(1)", "", ""),
    ]
    assert "phone" not in answer.text.splitlines()[0]
    with demo.sessions.begin() as s:
        assert [e.action for e in audit.entries(s, action="groupchat.export")] == [
            "groupchat.export"
        ]


FORM = {
    "group": "3B",
    "platform": "whatsapp",
    "account": "school",
    "purposes": "homework",
    "pupils_in_class": "28",
    "pupils_in_chat": "28",
    "youngest_age": "14",
    "parental_consent": "1",
    "alternative": "mail",
}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"platform": "myspace"}, "platform", "Onbekend platform"),
        ({"pupils_in_chat": "31"}, "pupils_in_chat", "meer leerlingen in de chat (31)"),
        ({"pupils_in_class": ""}, "pupils_in_class", "Dit veld ontbreekt"),
        ({"youngest_age": "-3"}, "youngest_age", "Een heel getal van 4"),
        ({"youngest_age": "99999999999"}, "youngest_age", "Een heel getal van 4"),
        ({"members": "Sanne, Daan"}, "chat", "Onbekend veld 'members'"),
    ],
)
def test_form_shows_each_message_next_to_its_field(
    demo_sqlite: Demo, changes: dict[str, str], field: str, words: str
) -> None:
    """A bad form comes back (422) with what was typed and the message beside the field."""
    browser = signed_in(demo_sqlite, "devries")
    answer = browser.post("/groupchats", {**FORM, **changes}, csrf_from="/groupchats/new")
    assert answer.status_code == 422
    assert f'id="error-{field}"' in answer.text
    assert words in html.unescape(answer.text)
    assert count(demo_sqlite) == 0


def test_form_registers_escapes_and_needs_its_csrf_token(demo_sqlite: Demo) -> None:
    """Markup in a group name is shown as text; a form without its token changes nothing."""
    demo = demo_sqlite
    browser = signed_in(demo, "devries")
    hostile = {**FORM, "group": "<b>3B</b>"}
    refused = browser.post("/groupchats", hostile, csrf_from=None)
    assert refused.status_code == 403
    assert count(demo) == 0
    made = browser.post("/groupchats", hostile, csrf_from="/groupchats/new")
    assert made.status_code == 303
    page = browser.get(made.headers["location"])
    assert "&lt;b&gt;3B&lt;/b&gt;" in page.text and "<b>3B</b>" not in page.text
    assert 'data-code="whatsapp"' in page.text
    twin = browser.json(made.headers["location"]).json()
    assert twin["chat"]["group"] == "<b>3B</b>"
    assert [f["code"] for f in twin["chat"]["findings"]] == ["whatsapp"]
    other = signed_in(demo, "jansen")
    assert other.get(made.headers["location"]).status_code == 404


def test_admin_sets_the_closed_platform_on_the_school_page(demo_sqlite: Demo) -> None:
    """The school settings page offers only closed platforms; saving re-checks the register."""
    demo = demo_sqlite
    signed_in(demo, "devries").post(
        "/groupchats", {**FORM, "platform": "telegram", "youngest_age": "16"},
        csrf_from="/groupchats/new",
    )  # fmt: skip
    admin = signed_in(demo, "beheer")
    page = admin.get("/admin/school").text
    assert 'value="parro"' in page and 'value="telegram"' not in page
    saved = admin.post(
        "/admin/school/closed-platform", {"closed_platform": "parro"}, csrf_from="/admin/school"
    )
    assert saved.status_code == 303
    overview = admin.json("/groupchats/overview").json()
    assert overview["closed_platform"] == "parro"
    assert [f["code"] for f in overview["flagged"][0]["findings"]] == ["closed_platform_available"]
    # The overview promises no per-teacher view: it names no teacher, page or JSON; the chat's
    # own page does, for following that one chat up.
    assert "owner" not in overview["flagged"][0]
    page = admin.get("/groupchats/overview").text
    assert "nooit per docent" in page and "devries" not in page and "Geregistreerd" not in page
    chat = admin.get(f"/groupchats/{overview['flagged'][0]['id']}").text
    assert "Geregistreerd door: devries" in chat
    refused = admin.post(
        "/admin/school/closed-platform", {"closed_platform": "telegram"}, csrf_from="/admin/school"
    )
    assert refused.status_code == 422
    assert signed_in(demo, "devries").get("/groupchats/overview").status_code == 403
