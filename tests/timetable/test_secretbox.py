"""Feed secrets at rest: sealed with the collector's key, shown only as a hint."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from service.errors import InvalidRequest
from service.settings import Settings
from service.timetable_store import secretbox
from service.timetable_store.fetch import scrub
from service.timetable_store.sources import check_url

URL = "https://school.zportal.nl/api/v3/ical?access_token=abc123&user=~me"


def keyed(*keys: str) -> Settings:
    return Settings(db="sqlite://", secret_key=SecretStr(",".join(keys)))


def test_seal_hides_the_secret_and_unseal_restores_it() -> None:
    """The ciphertext holds nothing of the URL; the same key opens it."""
    settings = keyed(Fernet.generate_key().decode())
    sealed = secretbox.seal(settings, URL)
    assert "abc123" not in sealed and "zportal" not in sealed
    assert secretbox.unseal(settings, sealed, source="r") == URL


def test_keys_rotate() -> None:
    """With a new key first and the old one after, old secrets still open; new ones use the new."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = secretbox.seal(keyed(old), URL)
    rotated = keyed(new, old)
    assert secretbox.unseal(rotated, sealed_before, source="r") == URL
    sealed_after = secretbox.seal(rotated, URL)
    assert secretbox.unseal(keyed(new), sealed_after, source="r") == URL


def test_the_wrong_key_is_a_clear_error() -> None:
    """A secret sealed with another key names the source and what to do."""
    sealed = secretbox.seal(keyed(Fernet.generate_key().decode()), URL)
    with pytest.raises(secretbox.SecretUnreadable, match="source 'rooster' cannot be decrypted"):
        secretbox.unseal(keyed(Fernet.generate_key().decode()), sealed, source="rooster")


def test_an_invalid_key_is_refused_without_echoing_it() -> None:
    """A key that is not a Fernet key is refused; the message does not repeat it."""
    with pytest.raises(InvalidRequest) as caught:
        secretbox.seal(keyed("not-a-key-SEKRET"), URL)
    assert "SEKRET" not in caught.value.message and "32 url-safe base64" in caught.value.message


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        (URL, "https://school.zportal.nl/..."),
        ("https://user:pass@host.example:8443/x?y=z", "https://host.example:8443/..."),
        ("http://127.0.0.1:8080/feed/SEKRET.ics", "http://127.0.0.1:8080/..."),
    ],
)
def test_hint_keeps_only_scheme_and_host(url: str, hint: str) -> None:
    """Paths, queries and user info (where tokens live) never reach the hint."""
    assert secretbox.hint(url) == hint


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://school.zportal.nl/api/v3/ical?t=1", "https://school.zportal.nl/api/v3/ical?t=1"),
        ("webcal://school.example/r.ics", "https://school.example/r.ics"),
        ("http://localhost:8000/r.ics", "http://localhost:8000/r.ics"),
        ("http://[::1]:8000/r.ics", "http://[::1]:8000/r.ics"),
        ("http://school.example/r.ics", None),
        ("http://10.0.0.1/r.ics", None),
        ("file:///etc/passwd", None),
        ("https:///nohost", None),
        ("https://x.example/" + "a" * 4000, None),
    ],
)
def test_urls_must_protect_their_token(url: str, accepted: str | None) -> None:
    """https anywhere, plain http only to this machine; other schemes never."""
    if accepted is None:
        with pytest.raises(InvalidRequest):
            check_url(url, "feed URL")
    else:
        assert check_url(url, "feed URL") == accepted


def test_scrub_removes_every_secret() -> None:
    """A message that quotes a secret loses it."""
    assert scrub(f"failed for {URL} with abc123", [URL, "abc123"]) == (
        "failed for [secret] with [secret]"
    )
