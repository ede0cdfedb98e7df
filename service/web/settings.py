"""Settings of the web pages, read from ``LESSONWATCH_WEB_*`` environment variables.

Kept apart from the collector's ``Settings`` so the agent API's settings stay as documented in
docs/cli.md; docs/web.md documents each of these (a test keeps the two in step).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

WEB_SETTINGS_HELP = {
    "secure_cookies": "always mark the session cookie Secure (it is whenever the request is https)",
    "session_minutes": "how long a signed-in session lasts without use",
    "lockout_failures": "failed sign-ins for one name from one address before that pair is "
    "slowed down (429); the account itself is never locked",
    "lockout_minutes": "minutes in which a slowed-down pair earns its tries back",
    "signin_per_minute": "sign-in attempts a minute from one address, any account (429 above)",
    "signin_burst": "sign-in attempts one address may make at once before the rate applies",
    "signin_hash_workers": "password checks run at once (each is a deliberately slow argon2 "
    "hash); keep below the core count so devices' requests keep a core",
    "signin_hash_queue": "password checks that may wait for a worker; sign-ins beyond get 429",
    "max_form_bytes": "largest form body accepted (413 above it)",
    "demo": "demo mode: the demo accounts with their printed passwords may sign in",
    "oidc_issuer": "the SSO provider's issuer URL (Entra ID, Google); empty: no SSO button",
    "oidc_client_id": "the client id registered at the SSO provider",
    "oidc_client_secret": "the client secret registered at the SSO provider",
    "oidc_redirect_url": "this collector's callback URL as registered (…/auth/oidc/callback)",
    "oidc_label": "the text on the SSO sign-in button",
    "oidc_school": "the school whose accounts SSO signs in (its name); empty: the collector's "
    "only school, and no SSO sign-in when it has several",
}


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LESSONWATCH_WEB_", extra="ignore")

    secure_cookies: bool = False
    session_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    lockout_failures: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    signin_per_minute: int = Field(default=30, ge=1)
    signin_burst: int = Field(default=30, ge=1)
    signin_hash_workers: int = Field(default=1, ge=1, le=64)
    signin_hash_queue: int = Field(default=4, ge=0, le=1000)
    max_form_bytes: int = Field(default=256 * 1024, ge=1024)
    demo: bool = False
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_url: str = ""
    oidc_label: str = "School account"
    oidc_school: str = ""

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_redirect_url)
