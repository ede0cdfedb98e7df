"""Pure parts of the web pages: the chart, the settings' documentation, and which SSO claims
name a person. (The disclosure table moved to tests/service/test_access.py with the decisions
themselves; the catalog is tested in test_translations.py.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.web import oidc
from service.web.chart import timeline_svg
from service.web.settings import WEB_SETTINGS_HELP, WebSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "web.md"


def _bucket(minute: int, devices: int | None) -> dict[str, object]:
    start = datetime(2026, 11, 24, 9, minute, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = {
        "category": "social_media",
        "devices": devices,
        "seconds": None if devices is None else 60,
    }
    return {"start": start, "categories": [row]}


def _svg(timeline: list[dict[str, object]], label: str = "social media") -> str:
    return timeline_svg(
        timeline,
        labels={"social_media": label},
        devices_expected=24,
        threshold=3,
        tz=ZoneInfo("Europe/Amsterdam"),
        title="chart",
        axis_devices="devices",
        fewer_label="fewer than 3",
    )


def test_chart_has_axes_labels_and_hatches_suppressed_counts() -> None:
    """The SVG has axis lines, times in school time, a legend, and hatched bars for "<3"."""
    svg = _svg([_bucket(0, 5), _bucket(5, None), _bucket(10, 0)])
    assert svg.count('class="axis"') == 2
    assert (">10:00<" in svg and ">24<" not in svg) or ">20<" in svg
    assert 'fill="url(#hatch)"' in svg and "fewer than 3" in svg
    assert "social media: &lt;3" in svg


@given(st.text(min_size=1, max_size=40))
def test_chart_escapes_every_label(label: str) -> None:
    """Whatever a category label holds, it cannot open a tag inside the SVG."""
    svg = _svg([_bucket(0, 5)], label=label)
    body = svg.split("</defs>", 1)[1]
    assert "<script" not in body.lower() or "<script" not in label.lower()
    assert set(re.findall(r"<(/?[a-z]+)", body)) <= {
        "line",
        "text",
        "/text",
        "rect",
        "/rect",
        "title",
        "/title",
        "/svg",
    }


@pytest.mark.parametrize("name", sorted(WebSettings.model_fields))
def test_every_web_setting_is_documented(name: str) -> None:
    """Each web setting has a help text and a row in docs/web.md."""
    assert name in WEB_SETTINGS_HELP
    assert f"| `{name}` |" in DOCS.read_text()


@pytest.mark.parametrize(
    ("claims", "email"),
    [
        # verified: the one way an e-mail links an account
        ({"email": "A@School.example", "email_verified": True}, "a@school.example"),
        # missing or not exactly true: no e-mail (the "nOAuth" pattern)
        ({"email": "a@school.example"}, None),
        ({"email": "a@school.example", "email_verified": False}, None),
        ({"email": "a@school.example", "email_verified": "true"}, None),
        # Entra's UPN is not a verified e-mail
        ({"preferred_username": "b@school.example", "email_verified": True}, None),
        # malformed
        ({"email": 42, "email_verified": True}, None),
        ({"email": "x" * 300, "email_verified": True}, None),
        ({}, None),
    ],
)
def test_only_a_verified_email_links_an_account(
    claims: dict[str, object], email: str | None
) -> None:
    """An e-mail links an account only when the provider says it verified it."""
    assert oidc.verified_email(claims) == email


@pytest.mark.parametrize(
    ("claims", "bound"),
    [
        ({"iss": "https://g", "sub": "s1"}, ("https://g", "s1")),
        # Entra ID: tenant and object id, the same for a person whatever their name becomes
        ({"iss": "https://e", "sub": "s1", "tid": "t", "oid": "o"}, ("https://e", "t/o")),
        ({"iss": "https://e", "sub": "s1", "tid": "t"}, ("https://e", "s1")),
    ],
)
def test_which_subject_an_account_is_bound_to(
    claims: dict[str, object], bound: tuple[str, str]
) -> None:
    assert oidc.subject(claims) == bound


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=7200", 7200),
        (None, 3600),  # no header: an hour
        ("max-age=5", 60),  # bounded below: a provider cannot make us fetch on every sign-in
        ("max-age=99999999", 86400),  # and above: rotated keys arrive within a day
        ("no-store", 60),
        ("max-age=abc", 3600),
    ],
)
def test_how_long_a_provider_answer_is_kept(header: str | None, seconds: int) -> None:
    assert oidc.max_age(header).total_seconds() == seconds
