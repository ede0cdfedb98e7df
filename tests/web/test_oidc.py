"""School SSO over OpenID Connect against a local provider stand-in with its own RSA key:
code flow with PKCE, state and nonce, signature and claims verified, mapping to a local user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from service import audit, credentials
from service.models import User
from service.web import WebSettings
from tests.support.web import TIMEOUT, Browser, Demo, signed_in
from tests.web.oidc_standin import Provider, oidc_provider


@pytest.fixture
def provider(demo_sqlite: Demo) -> Iterator[Provider]:
    with oidc_provider(demo_sqlite.clock) as p:
        demo_sqlite.live.app.state.web_settings = WebSettings(
            demo=True,
            oidc_issuer=p.url,
            oidc_client_id=p.client_id,
            oidc_client_secret="s3cret",
            oidc_redirect_url=demo_sqlite.url + "/auth/oidc/callback",
            oidc_label="Entra ID",
        )
        with demo_sqlite.sessions.begin() as s:
            s.query(User).filter_by(username="devries").one().email = "devries@school.example"
        yield p


def sso(demo: Demo, *, tamper_state: bool = False) -> tuple[Browser, requests.Response]:
    browser = Browser(demo.url)
    start = browser.get("/auth/oidc/start?next=/escalations")
    assert start.status_code == 303
    authorize = start.headers["location"]
    query = parse_qs(urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    back = requests.get(authorize, allow_redirects=False, timeout=TIMEOUT).headers["location"]
    if tamper_state:
        back = back.replace("state=", "state=x")
    return browser, browser.get(back.removeprefix(demo.url))


def test_sso_signs_in_the_user_with_that_email(demo_sqlite: Demo, provider: Provider) -> None:
    """A verified ID token for a known e-mail signs that user in, with PKCE and client secret."""
    browser, answer = sso(demo_sqlite)
    assert answer.status_code == 303 and answer.headers["location"] == "/escalations"
    assert browser.json("/lessons").json()["scope"] == "own"
    [sent] = provider.token_requests
    assert sent["code_verifier"] and sent["client_secret"] == "s3cret"
    with demo_sqlite.sessions.begin() as s:
        assert [e.object for e in audit.entries(s, action="signin")] == ["oidc"]
    assert "Entra ID" in Browser(demo_sqlite.url).get("/signin").text


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("bad_nonce", "nonce"),
        ("wrong_key", "ID-token is geweigerd"),
        ("wrong_audience", "ID-token is geweigerd"),
        ("expired", "het ID-token is verlopen"),
    ],
)
def test_untrustworthy_id_tokens_are_refused(
    demo_sqlite: Demo, provider: Provider, mode: str, problem: str
) -> None:
    """A wrong nonce, foreign signature, other audience or expired token signs nobody in."""
    provider.mode = mode
    browser, answer = sso(demo_sqlite)
    assert answer.status_code == 401 and problem in answer.text
    assert browser.get("/lessons").status_code == 303


def test_an_account_made_for_sso_needs_no_password_and_starts_as_a_teacher(
    demo_sqlite: Demo, provider: Provider
) -> None:
    """The new-user form offers the least privileged role first and takes an e-mail address
    without a password: that account signs in with SSO, never with a password."""
    admin = signed_in(demo_sqlite, "beheer")
    form = admin.get("/admin/users").text
    assert re.search(r'<option value="teacher" selected>', form)
    assert not re.search(r'name="password"[^>]*required', form)
    fields = {"username": "kim", "role": "teacher", "password": "", "email": "kim@school.example"}
    assert admin.post("/admin/users", fields, csrf_from="/admin/users").status_code == 303
    provider.email = "kim@school.example"
    browser, answer = sso(demo_sqlite)
    assert answer.status_code == 303
    assert browser.json("/lessons").json()["scope"] == "own"  # a teacher's own lessons
    # Not even the stored marker signs in as a password.
    refused = Browser(demo_sqlite.url).sign_in("kim", credentials.NO_PASSWORD)
    assert refused.status_code != 303
    # Without an e-mail address nobody could sign in: the form says so and adds nobody.
    fields = {"username": "lee", "role": "teacher", "password": ""}
    answer = admin.post("/admin/users", fields, csrf_from="/admin/users")
    assert answer.status_code == 422 and "e-mailadres" in answer.text
    with demo_sqlite.sessions.begin() as s:
        assert s.query(User).filter_by(username="lee").count() == 0


@pytest.mark.usefixtures("provider")
def test_tampered_state_and_replayed_callback_are_refused(demo_sqlite: Demo) -> None:
    """A state that is not this session's, or a callback used twice, signs nobody in."""
    _, answer = sso(demo_sqlite, tamper_state=True)
    assert answer.status_code == 401 and "de state past niet bij deze browsersessie" in answer.text
    browser, first = sso(demo_sqlite)
    assert first.status_code == 303
    again = Browser(demo_sqlite.url)
    again.http.cookies.update(browser.http.cookies)
    replay = again.get("/auth/oidc/callback?code=x&state=y")
    assert replay.status_code == 401


@pytest.mark.parametrize(
    ("email", "mode"),
    [("stranger@school.example", "ok"), ("devries@school.example", "unverified_email")],
)
def test_unknown_or_unverified_email_gets_no_account(
    demo_sqlite: Demo, provider: Provider, email: str, mode: str
) -> None:
    """SSO never creates accounts, and an unverified e-mail maps to nobody."""
    provider.email, provider.mode = email, mode
    browser, answer = sso(demo_sqlite)
    assert answer.status_code == 403
    assert browser.get("/lessons").status_code == 303


@pytest.mark.usefixtures("provider")
def test_unreachable_provider_gets_a_clear_message(demo_sqlite: Demo) -> None:
    """When the provider is down, starting SSO answers with a message instead of a 500."""
    settings = demo_sqlite.live.app.state.web_settings
    demo_sqlite.live.app.state.web_settings = settings.model_copy(
        update={"oidc_issuer": "http://127.0.0.1:9"}
    )
    answer = Browser(demo_sqlite.url).get("/auth/oidc/start")
    assert answer.status_code == 502 and "de provider is niet bereikbaar" in answer.text
