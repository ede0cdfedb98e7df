"""School SSO sign-in (Microsoft Entra ID, Google) with OpenID Connect.

Authorization code flow with PKCE (S256), ``state`` against login CSRF and ``nonce`` against
replayed ID tokens; the provider's discovery document names its endpoints and JWKS, and the ID
token's RS256/ES256 signature, issuer, audience, expiry and nonce are verified with PyJWT.

An account is bound to the token's issuer and subject (``sub``; Entra ID's ``tid``/``oid``,
which stay the same for a person whatever their name or e-mail becomes). Only the first sign-in
links by e-mail, and only when the token says ``email_verified: true`` and the user is in the
school the provider is configured for: a missing flag, an Entra UPN or a user name never pick an
account (the "nOAuth" pattern, where anyone can set a mail attribute in their own tenant). SSO
never creates accounts. The discovery document and the signing keys are cached as long as the
provider's ``Cache-Control: max-age`` says (bounded); an unknown ``kid`` refetches the keys
once, as providers rotate them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import School, User
from service.web.settings import WebSettings

TIMEOUT = 10
MAX_RESPONSE = 1024 * 1024
PENDING_SECONDS = 600
ALGORITHMS = ["RS256", "ES256"]
# How long a discovery document or key set is kept: the provider's max-age, within these.
CACHE_DEFAULT = timedelta(hours=1)
CACHE_MIN = timedelta(minutes=1)
CACHE_MAX = timedelta(days=1)


class OidcError(Exception):
    """The provider's answer or the returning browser's request could not be trusted.

    Like a ``ServiceError`` it carries a message id and its values (docs/translations.md):
    ``str()`` is the English text the audit log keeps, the sign-in page translates it."""

    def __init__(self, message: str, /, **params: object) -> None:
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)


def _get_json(url: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return _get_json_cached(url, data)[0]


def max_age(header: str | None) -> timedelta:
    """How long an answer may be kept, from its Cache-Control, bounded both ways."""
    seconds: int | None = None
    for part in (header or "").lower().split(","):
        name, _, value = part.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return CACHE_MIN
        if name == "max-age" and value.strip().isdigit():
            seconds = int(value.strip())
    if seconds is None:
        return CACHE_DEFAULT
    return min(max(timedelta(seconds=seconds), CACHE_MIN), CACHE_MAX)


def _get_json_cached(
    url: str, data: dict[str, str] | None = None
) -> tuple[dict[str, Any], timedelta]:
    if not url.startswith(("https://", "http://")):
        raise OidcError("the provider URL must be http(s)")
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            raw = answer.read(MAX_RESPONSE + 1)
            keep = max_age(answer.headers.get("Cache-Control"))
    except urllib.error.HTTPError as exc:
        raise OidcError("the provider answered %(status)s", status=exc.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OidcError("the provider could not be reached (%(problem)s)", problem=exc) from None
    if len(raw) > MAX_RESPONSE:
        raise OidcError("the provider's answer is too large")
    try:
        value = json.loads(raw)
    except ValueError:
        raise OidcError("the provider's answer is not JSON") from None
    if not isinstance(value, dict):
        raise OidcError("the provider's answer is not a JSON object")
    return value, keep


@dataclass
class Cache:
    """Answers kept per URL until their expiry: one per collector process."""

    kept: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)

    def get(self, url: str, now: datetime, *, fresh: bool = False) -> dict[str, Any]:
        held = self.kept.get(url)
        if held is not None and not fresh and now < held[0]:
            return held[1]
        value, keep = _get_json_cached(url)
        self.kept[url] = (now + keep, value)
        return value


CACHE = Cache()


def discover(issuer: str, now: datetime) -> dict[str, Any]:
    doc = CACHE.get(issuer.rstrip("/") + "/.well-known/openid-configuration", now)
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "issuer"):
        if not isinstance(doc.get(key), str):
            raise OidcError("the discovery document lacks %(key)s", key=key)
    return doc


def signing_key(jwks_uri: str, id_token: str, now: datetime) -> Any:
    """The key the token names, from the cached set; an unknown ``kid`` refetches it once."""
    kid = jwt.get_unverified_header(id_token).get("kid")
    for fresh in (False, True):
        try:
            keys = jwt.PyJWKSet.from_dict(CACHE.get(jwks_uri, now, fresh=fresh)).keys
        except jwt.PyJWTError as exc:
            raise OidcError("the ID token was refused: %(problem)s", problem=exc) from None
        found = [k for k in keys if kid is None or k.key_id == kid]
        if len(found) == 1 or (found and kid is not None):
            return found[0].key
    raise OidcError("the ID token was refused: %(problem)s", problem="unknown signing key")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def start(settings: WebSettings, now: datetime) -> tuple[str, dict[str, Any]]:
    """The provider URL to send the browser to, and what the session keeps until it returns."""
    doc = discover(settings.oidc_issuer, now)
    verifier = secrets.token_urlsafe(48)
    pending = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": verifier,
    }
    query = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": settings.oidc_redirect_url,
        "scope": "openid email profile",
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    return doc["authorization_endpoint"] + "?" + urllib.parse.urlencode(query), pending


# Seconds of clock difference between the provider and the collector that are forgiven.
CLOCK_LEEWAY = 60


def finish(
    settings: WebSettings, pending: Any, *, code: str | None, state: str | None, now: datetime
) -> dict[str, Any]:
    """The verified ID-token claims for the browser's return, or OidcError saying why not."""
    if not isinstance(pending, dict) or not isinstance(pending.get("state"), str):
        raise OidcError("no sign-in was started in this browser session")
    if not state or not secrets.compare_digest(state.encode(), pending["state"].encode()):
        raise OidcError("the state does not match this browser session")
    if not code or len(code) > 4096:
        raise OidcError("the provider sent no authorization code")
    doc = discover(settings.oidc_issuer, now)
    tokens = _get_json(
        doc["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.oidc_redirect_url,
            "client_id": settings.oidc_client_id,
            "client_secret": settings.oidc_client_secret,
            "code_verifier": pending["verifier"],
        },
    )
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("the provider sent no ID token")
    try:
        key = signing_key(doc["jwks_uri"], id_token, now)
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=ALGORITHMS,
            audience=settings.oidc_client_id,
            issuer=doc["issuer"],
            # The times are checked below against the collector's clock, not PyJWT's reading
            # of the wall clock, so the one clock the service runs on decides (and tests can
            # move it).
            options={
                "require": ["exp", "iat", "iss", "aud", "sub", "nonce"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise OidcError("the ID token was refused: %(problem)s", problem=exc) from None
    if not secrets.compare_digest(str(claims["nonce"]).encode(), pending["nonce"].encode()):
        raise OidcError("the ID token's nonce does not match this sign-in")
    return _check_times(claims, now)


def _check_times(claims: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Expiry, not-before and issue time against ``now``, with a minute's leeway for skew."""
    moment = now.timestamp()
    try:
        expires, issued = float(claims["exp"]), float(claims["iat"])
        not_before = float(claims.get("nbf", issued))
    except (TypeError, ValueError):
        raise OidcError("the ID token's times are not numbers") from None
    if expires < moment - CLOCK_LEEWAY:
        raise OidcError("the ID token has expired")
    if issued > moment + CLOCK_LEEWAY or not_before > moment + CLOCK_LEEWAY:
        raise OidcError("the ID token was issued in the future")
    return claims


def subject(claims: dict[str, Any]) -> tuple[str, str]:
    """The (issuer, subject) an account is bound to: Entra ID's tenant and object id when the
    token has them (the same person across apps), else ``sub``."""
    tid, oid = claims.get("tid"), claims.get("oid")
    if isinstance(tid, str) and isinstance(oid, str) and tid and oid:
        return str(claims["iss"])[:500], f"{tid}/{oid}"[:300]
    return str(claims["iss"])[:500], str(claims["sub"])[:300]


def verified_email(claims: dict[str, Any]) -> str | None:
    """The e-mail, only when the provider says it verified it: a missing flag is not a yes."""
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str):
        return None
    email = email.strip().lower()
    return email if 0 < len(email) <= 200 else None


def configured_school(session: Session, settings: WebSettings) -> School | None:
    """The school the provider signs in for: the named one, or the collector's only school."""
    if settings.oidc_school:
        return session.scalar(select(School).where(School.name == settings.oidc_school))
    found = session.scalars(select(School).order_by(School.id).limit(2)).all()
    return found[0] if len(found) == 1 else None


def user_for_claims(
    session: Session, claims: dict[str, Any], *, school: School | None
) -> tuple[User | None, bool]:
    """The user bound to the token's (issuer, subject), or else the one user of ``school``
    with its verified e-mail and no binding yet, which is then bound; and whether it was just
    linked. Nobody outside ``school`` is ever matched."""
    if school is None:
        return None, False
    issuer, sub = subject(claims)
    bound = session.scalar(select(User).where(User.sso_issuer == issuer, User.sso_subject == sub))
    if bound is not None:
        return (bound, False) if bound.school_id == school.id else (None, False)
    email = verified_email(claims)
    if email is None:
        return None, False
    found = session.scalars(
        select(User)
        .where(
            User.school_id == school.id,
            func.lower(User.email) == email,
            User.sso_subject.is_(None),
            User.disabled.is_(False),
        )
        .order_by(User.id)
        .limit(2)
    ).all()
    if len(found) != 1:
        return None, False
    found[0].sso_issuer, found[0].sso_subject = issuer, sub
    return found[0], True
