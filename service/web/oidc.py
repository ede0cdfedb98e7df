"""School SSO sign-in (Microsoft Entra ID, Google) with OpenID Connect.

Authorization code flow with PKCE (S256), ``state`` against login CSRF and ``nonce`` against
replayed ID tokens; the provider's discovery document names its endpoints and JWKS, and the ID
token's RS256/ES256 signature, issuer, audience, expiry and nonce are verified with PyJWT. The
verified e-mail (or ``preferred_username``, Entra's UPN) must belong to an existing local user:
SSO never creates accounts. One collector serves many schools, so the names must point at
exactly one user: when they match accounts in two schools (or two accounts at all), the
sign-in is refused rather than guessed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.models import User
from service.web.settings import WebSettings

TIMEOUT = 10
MAX_RESPONSE = 1024 * 1024
PENDING_SECONDS = 600
ALGORITHMS = ["RS256", "ES256"]


class OidcError(Exception):
    """The provider's answer or the returning browser's request could not be trusted.

    Like a ``ServiceError`` it carries a message id and its values (docs/translations.md):
    ``str()`` is the English text the audit log keeps, the sign-in page translates it."""

    def __init__(self, message: str, /, **params: object) -> None:
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)


def _get_json(url: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise OidcError("the provider URL must be http(s)")
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            raw = answer.read(MAX_RESPONSE + 1)
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
    return value


def discover(issuer: str) -> dict[str, Any]:
    doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "issuer"):
        if not isinstance(doc.get(key), str):
            raise OidcError("the discovery document lacks %(key)s", key=key)
    return doc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def start(settings: WebSettings) -> tuple[str, dict[str, Any]]:
    """The provider URL to send the browser to, and what the session keeps until it returns."""
    doc = discover(settings.oidc_issuer)
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
    doc = discover(settings.oidc_issuer)
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
        key = jwt.PyJWKClient(doc["jwks_uri"], timeout=TIMEOUT).get_signing_key_from_jwt(id_token)
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
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


def identities(claims: dict[str, Any]) -> list[str]:
    """The names a verified token vouches for, lower-cased: e-mail unless marked unverified."""
    found = []
    email = claims.get("email")
    if isinstance(email, str) and claims.get("email_verified", True) is not False:
        found.append(email)
    upn = claims.get("preferred_username")
    if isinstance(upn, str) and "@" in upn:
        found.append(upn)
    return [f.strip().lower() for f in found if 0 < len(f) <= 200]


def user_for_claims(session: Session, claims: dict[str, Any]) -> User | None:
    """The one user the verified names belong to, matched by e-mail or user name in any
    school; None when there is none, or more than one (in one school or across schools)."""
    names = identities(claims)
    if not names:
        return None
    found = session.scalars(
        select(User)
        .where(or_(func.lower(User.email).in_(names), func.lower(User.username).in_(names)))
        .order_by(User.id)
        .limit(2)
    ).all()
    return found[0] if len(found) == 1 else None
