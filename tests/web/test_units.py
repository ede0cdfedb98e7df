"""Pure parts of the web pages: the settings' documentation, and which SSO claims
name a person. (The disclosure table moved to tests/service/test_access.py with the decisions
themselves; the catalog is tested in test_translations.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.web import oidc
from service.web.settings import WEB_SETTINGS_HELP, WebSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "web.md"


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
