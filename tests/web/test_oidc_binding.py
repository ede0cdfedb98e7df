"""SSO accounts are bound to the provider's issuer and subject (issue 14, part 8).

The "nOAuth" pattern: a token whose e-mail nobody verified, or that names a user of another
school, must not pick an account; a person keeps their account when their e-mail changes. The
provider's discovery document and keys are cached, not fetched on every sign-in. Against the
local stand-in provider, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from service.models import School, User
from service.web import WebSettings
from tests.support.web import Demo
from tests.web.oidc_standin import Provider, oidc_provider
from tests.web.test_oidc import sso

EMAIL = "devries@school.example"


@pytest.fixture
def provider(demo: Demo) -> Iterator[Provider]:
    """The stand-in, configured for the demo school; devries has the e-mail it vouches for."""
    with oidc_provider(demo.clock) as p:
        demo.live.app.state.web_settings = WebSettings(
            demo=True,
            oidc_issuer=p.url,
            oidc_client_id=p.client_id,
            oidc_client_secret="s3cret",
            oidc_redirect_url=demo.url + "/auth/oidc/callback",
            oidc_school=demo.school.school,
        )
        with demo.sessions.begin() as s:
            s.scalars(select(User).filter_by(username="devries")).one().email = EMAIL
        yield p


def signed_in_as(demo: Demo, provider: Provider) -> str | None:
    """The user name an SSO sign-in with the provider's current token ends up as, if any."""
    browser, answer = sso(demo)
    if answer.status_code != 303:
        assert answer.status_code == 403, answer.text
        return None
    assert browser.get("/lessons").status_code == 200
    return binding_owner(demo, provider)


def binding_owner(demo: Demo, provider: Provider) -> str | None:
    with demo.sessions.begin() as s:
        return s.scalar(
            select(User.username).where(
                User.sso_issuer == provider.url, User.sso_subject == provider.sub
            )
        )


def test_a_token_without_email_verified_does_not_link_by_email(
    demo: Demo, provider: Provider
) -> None:
    """A missing ``email_verified`` is not a yes: nobody is signed in, nothing is bound."""
    provider.email_verified = None
    assert signed_in_as(demo, provider) is None
    assert binding_owner(demo, provider) is None


def test_a_user_of_another_school_with_the_same_email_is_never_matched(
    demo: Demo, provider: Provider
) -> None:
    """The provider signs in for the demo school only; another school's user with the token's
    e-mail (and its user name) is never picked."""
    with demo.sessions.begin() as s:
        devries = s.scalars(select(User).filter_by(username="devries")).one()
        devries.email = None
        other = School(name="Other school", timezone="Europe/Amsterdam")
        s.add(other)
        s.flush()
        s.add(
            User(
                school_id=other.id,
                username="other@school.example",
                role="admin",
                password_hash="x",
                created_at=devries.created_at,
                email=EMAIL,
            )
        )
    provider.email = EMAIL
    assert signed_in_as(demo, provider) is None
    provider.email = "other@school.example"
    assert signed_in_as(demo, provider) is None


def test_the_second_sign_in_matches_by_subject_after_the_email_changed(
    demo: Demo, provider: Provider
) -> None:
    """The first sign-in links by verified e-mail and binds (iss, sub); later the e-mail at the
    provider changes, and the same subject still signs in as the same user."""
    assert signed_in_as(demo, provider) == "devries"
    provider.email = "renamed@elsewhere.example"
    provider.email_verified = None
    assert signed_in_as(demo, provider) == "devries"


def test_another_subject_with_the_linked_email_gets_no_account(
    demo: Demo, provider: Provider
) -> None:
    """Once bound, the account is the subject's: a second identity with the same verified
    e-mail (another tenant, a re-created account) is not linked to it."""
    assert signed_in_as(demo, provider) == "devries"
    provider.sub = "someone-else"
    assert signed_in_as(demo, provider) is None


def test_discovery_is_fetched_once_across_two_sign_ins(demo: Demo, provider: Provider) -> None:
    """The discovery document is kept for its max-age, not fetched twice per sign-in."""
    assert signed_in_as(demo, provider) == "devries"
    assert signed_in_as(demo, provider) == "devries"
    assert provider.discovery_requests == 1


def test_keys_are_cached_and_refetched_once_on_an_unknown_kid(
    demo: Demo, provider: Provider
) -> None:
    """The key set is kept; a token signed with a rotated key (a new ``kid``) makes the
    collector fetch it again once, and then it is kept again."""
    assert signed_in_as(demo, provider) == "devries"
    assert signed_in_as(demo, provider) == "devries"
    assert provider.jwks_requests == 1
    provider.rotate("k2")
    assert signed_in_as(demo, provider) == "devries"
    assert signed_in_as(demo, provider) == "devries"
    assert provider.jwks_requests == 2
