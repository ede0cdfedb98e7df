"""A small OpenID Connect provider on loopback for the SSO tests: its own RSA key and JWKS, a
discovery document, an authorize endpoint that answers at once (as if the user signed in) and a
token endpoint that checks the PKCE verifier. ``mode`` makes it misbehave in one chosen way.
It counts the discovery and key-set requests, and can rotate its key (a new ``kid``)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class Provider:
    # The provider signs with the collector's clock, never the real one: a token issued "now"
    # must be "now" for the side that checks it, whatever day the suite runs on.
    clock: Callable[[], datetime]
    url: str = ""
    client_id: str = "lessonwatch-test"
    email: str = "devries@school.example"
    mode: str = "ok"  # ok, bad_nonce, wrong_key, wrong_audience, expired, unverified_email
    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    other_key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    sub: str = "user-123"
    email_verified: bool | None = True  # None: the claim is left out, as some providers do
    kid: str = "k1"
    discovery_requests: int = 0
    jwks_requests: int = 0

    def rotate(self, kid: str) -> None:
        """A new signing key under a new ``kid``; the old one is no longer published."""
        self.key, self.kid = rsa.generate_private_key(65537, 2048), kid

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, nonce: str) -> str:
        now = int(self.clock().timestamp())
        claims = {
            "iss": self.url,
            "aud": "someone-else" if self.mode == "wrong_audience" else self.client_id,
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.mode != "unverified_email" and self.email_verified,
            "nonce": "not-the-nonce" if self.mode == "bad_nonce" else nonce,
            "iat": now - (7200 if self.mode == "expired" else 0),
            "exp": now + (-3600 if self.mode == "expired" else 600),
        }
        if self.email_verified is None:
            del claims["email_verified"]
        key = self.other_key if self.mode == "wrong_key" else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _json(self, body: Any, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=3600")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/.well-known/openid-configuration":
                provider.discovery_requests += 1
                self._json(
                    {
                        "issuer": provider.url,
                        "authorization_endpoint": provider.url + "/authorize",
                        "token_endpoint": provider.url + "/token",
                        "jwks_uri": provider.url + "/jwks",
                    }
                )
            elif url.path == "/jwks":
                provider.jwks_requests += 1
                self._json(provider.jwks())
            elif url.path == "/authorize":
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                code = secrets.token_urlsafe(16)
                provider.codes[code] = q
                self.send_response(302)
                target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                self.send_header("Location", target)
                self.end_headers()
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            provider.token_requests.append(form)
            asked = provider.codes.pop(form.get("code", ""), None)
            if asked is None:
                self._json({"error": "invalid_grant"}, 400)
                return
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if (
                challenge != asked["code_challenge"]
                or form.get("redirect_uri") != asked["redirect_uri"]
            ):
                self._json({"error": "invalid_grant"}, 400)
                return
            self._json({"id_token": provider.id_token(asked["nonce"]), "token_type": "Bearer"})

    return Handler


@contextmanager
def oidc_provider(clock: Callable[[], datetime]) -> Iterator[Provider]:
    provider = Provider(clock=clock)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
