"""The enrolment codes page over real HTTP: a leaked code is revoked and the devices it let in
are retired from the page, and the agent API refuses a label with control characters."""

from __future__ import annotations

import re

import requests

from tests.support.web import TIMEOUT, Demo, signed_in


def _enrol(demo: Demo, code: str, label: str | None = None) -> requests.Response:
    body = {"code": code, "platform": "linux", "agent_version": "0.1.0", "label": label}
    return requests.post(demo.url + "/api/v1/agent/enroll", json=body, timeout=TIMEOUT)


def test_a_leaked_code_is_revoked_and_its_devices_retired_from_the_page(demo: Demo) -> None:
    """Two devices enrolled with a new code are retired with one button, and the revoked code
    enrols nothing more; the other codes' devices keep their tokens."""
    admin = signed_in(demo, "beheer")
    answer = admin.post(
        "/admin/codes", {"group": "4A", "uses": "5", "days": "3"}, csrf_from="/admin/codes"
    )
    assert answer.status_code == 303
    found = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", admin.get("/admin/codes").text)
    assert found
    tokens = [_enrol(demo, found.group()).json()["token"] for _ in range(2)]
    (code,) = [c for c in admin.json("/admin/codes").json()["codes"] if c["devices"]]
    assert (code["devices"], code["active_devices"], code["uses_left"]) == (2, 2, 3)
    retired = admin.post(f"/admin/codes/{code['id']}/retire-devices", {}, csrf_from="/admin/codes")
    assert retired.status_code == 303
    assert "2 apparaten van deze code buiten gebruik gesteld." in admin.get("/admin/codes").text
    for token in tokens:
        refused = requests.get(
            demo.url + "/api/v1/agent/config",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert refused.status_code == 401
    other = next(iter(demo.school.device_tokens.values()))
    still = requests.get(
        demo.url + "/api/v1/agent/config",
        headers={"Authorization": f"Bearer {other}"},
        timeout=TIMEOUT,
    )
    assert still.status_code == 200
    revoked = admin.post(f"/admin/codes/{code['id']}/revoke", {}, csrf_from="/admin/codes")
    assert revoked.status_code == 303
    listed = {c["id"]: c for c in admin.json("/admin/codes").json()["codes"]}
    assert listed[code["id"]]["revoked"] and not listed[code["id"]]["active"]
    assert _enrol(demo, found.group()).json()["error"]["code"] == "enrolment_code_invalid"


def test_teachers_cannot_revoke_codes(demo: Demo) -> None:
    """Revoking is an admin operation: a teacher's post is refused and changes nothing."""
    admin = signed_in(demo, "beheer")
    admin.post("/admin/codes", {"group": "4A", "uses": "5", "days": "3"}, csrf_from="/admin/codes")
    (first,) = admin.json("/admin/codes").json()["codes"]
    teacher = signed_in(demo, "devries")
    answer = teacher.post(f"/admin/codes/{first['id']}/revoke", {}, csrf_from="/lessons")
    assert answer.status_code == 403
    assert not admin.json("/admin/codes").json()["codes"][0]["revoked"]


def test_agent_api_refuses_a_label_with_control_characters(demo: Demo) -> None:
    """A label that would move IT's terminal cursor is a 422 naming the field; no device."""
    admin = signed_in(demo, "beheer")
    admin.post("/admin/codes", {"group": "4A", "uses": "5", "days": "3"}, csrf_from="/admin/codes")
    found = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", admin.get("/admin/codes").text)
    assert found
    answer = _enrol(demo, found.group(), "\x1b[1A\x1b[2Kd_forged")
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "label must not contain control characters"
    assert all(c["devices"] == 0 for c in admin.json("/admin/codes").json()["codes"])
