"""Typed collector settings, read from ``LESSONWATCH_*`` environment variables or given in code.

Built by the caller (``cli.main`` or a test), never at import time. ``SETTINGS_HELP`` lists every
setting with its meaning; docs/cli.md documents each one (a test keeps the two in step).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SETTINGS_HELP = {
    "db": "database URL; default a SQLite file in the platform data directory",
    "max_body_bytes": "largest request body accepted (413 above it)",
    "max_batch": "most lesson summaries in one report batch (422 above it)",
    "device_rate_per_minute": "sustained requests per minute allowed per device",
    "device_burst": "requests a device may make at once before the rate applies",
    "enrol_rate_per_minute": "enrolment attempts per minute per client address",
    "enrol_burst": "enrolment attempts at once per client address",
    "config_past_hours": "how far back the agent config lists lessons",
    "config_ahead_days": "how far ahead the agent config lists lessons",
    "future_tolerance_seconds": "how far a lesson may lie in the future and still take reports",
    "max_summaries_per_lesson": "most summaries one device may send for one lesson (an agent "
    "restarted mid-lesson sends one per run); more are rejected",
    "poll_in_lesson_seconds": "config poll interval agents are told to use during a lesson",
    "poll_idle_seconds": "config poll interval agents are told to use outside lessons",
    "purge_interval_seconds": "how often the serve process runs the retention purge (0: never)",
    "secret_key": "Fernet key(s) that encrypt timetable feed URLs and tokens; comma-separated, "
    "the first encrypts (default: a key file in the platform data directory)",
    "timetable_sync_seconds": "how often the serve process looks for timetable sources due to "
    "sync (0: never)",
    "holiday_fetch_seconds": "longest the collector waits for a holiday file fetched from a URL",
    "fetch_allow_hosts": "comma-separated host names or addresses (as written in the URL) that "
    "holiday files, feeds and Zermelo may be fetched from although they are on this machine or "
    "an internal network; default none",
    "trusted_proxies": "comma-separated addresses (or networks) of reverse proxies whose "
    "X-Forwarded-For and X-Forwarded-Proto are believed; empty: none (docs/deploy.md)",
    "api_docs": "serve the interactive API documentation at /docs and /redoc; they load their "
    "scripts from a public CDN, so they are off by default (/openapi.json is always served)",
    "access_log_addresses": "write the client's address in serve's access log; off by default, "
    "because a device's address tells where its laptop is and when it is on (docs/deploy.md)",
    "extension_ids": "comma-separated ids of the lessonwatch browser extension that may call the "
    "agent API from a browser (the id its manifest key fixes, and the stores' ids if published "
    "there); empty: none (docs/browser.md)",
}

# The id the extension's manifest "key" fixes (browser/manifest.json, docs/browser.md).
EXTENSION_ID = "miidlkkbabhbefopaneddnaplacpdfhl"


def default_db_url() -> str:
    data_dir = Path(platformdirs.user_data_dir("lessonwatch", appauthor=False))
    return f"sqlite:///{data_dir / 'collector.sqlite3'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LESSONWATCH_", extra="ignore")

    db: str = Field(default_factory=default_db_url)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch: int = Field(default=500, ge=1)
    device_rate_per_minute: float = Field(default=30.0, gt=0)
    device_burst: int = Field(default=20, ge=1)
    enrol_rate_per_minute: float = Field(default=10.0, gt=0)
    enrol_burst: int = Field(default=20, ge=1)
    config_past_hours: int = Field(default=12, ge=0)
    config_ahead_days: int = Field(default=7, ge=1)
    future_tolerance_seconds: int = Field(default=3600, ge=0)
    max_summaries_per_lesson: int = Field(default=30, ge=1)
    poll_in_lesson_seconds: int = Field(default=60, ge=5)
    poll_idle_seconds: int = Field(default=900, ge=5)
    purge_interval_seconds: int = Field(default=3600, ge=0)
    secret_key: SecretStr | None = None
    timetable_sync_seconds: int = Field(default=60, ge=0)
    holiday_fetch_seconds: float = Field(default=30.0, gt=0, le=600)
    fetch_allow_hosts: str = ""
    trusted_proxies: str = ""
    api_docs: bool = False
    access_log_addresses: bool = False
    extension_ids: str = EXTENSION_ID

    @property
    def allowed_fetch_hosts(self) -> frozenset[str]:
        return frozenset(
            h.strip().strip("[]").lower().rstrip(".")
            for h in self.fetch_allow_hosts.split(",")
            if h.strip()
        )

    @property
    def extension_origins(self) -> list[str]:
        return [
            f"chrome-extension://{i.strip()}" for i in self.extension_ids.split(",") if i.strip()
        ]

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def future_tolerance(self) -> timedelta:
        return timedelta(seconds=self.future_tolerance_seconds)
