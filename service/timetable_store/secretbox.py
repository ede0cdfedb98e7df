"""Timetable secrets at rest: feed URLs and API tokens, encrypted with the collector's key.

A feed URL carries its token (``https://school.zportal.nl/api/v3/ical?access_token=...``), so
the whole URL is the secret. It is Fernet-encrypted (AES-128-CBC with an HMAC) with the key from
the setting ``secret_key``; several comma-separated keys allow rotation (the first encrypts,
each decrypts). Without the setting, a key file in the platform data directory is created on
first use, which suits one collector on SQLite; collectors sharing a PostgreSQL database must
all be given the same ``LESSONWATCH_SECRET_KEY``. Pages, logs, exports and the CLI only ever
show ``hint``: the scheme and host, never the path or the query.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.errors import InvalidRequest, ServiceError
from service.settings import Settings

KEY_FILE = "secret.key"


class SecretUnreadable(ServiceError):
    """The stored secret cannot be decrypted with the keys this collector has."""

    status = 500
    code = "secret_unreadable"


def key_file() -> Path:
    return Path(platformdirs.user_data_dir("lessonwatch", appauthor=False)) / KEY_FILE


def _file_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked: two processes starting at once end up
        # with the same key, and neither reads a half-written file.
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(Fernet.generate_key() + b"\n")
            with contextlib.suppress(FileExistsError):
                os.link(scratch, path)
        finally:
            os.unlink(scratch)
    return path.read_text().strip()


def box(settings: Settings) -> MultiFernet:
    """The collector's Fernet keys; InvalidRequest when the setting holds no valid key."""
    text = settings.secret_key.get_secret_value() if settings.secret_key else _file_key(key_file())
    keys = [k.strip() for k in text.split(",") if k.strip()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        # Never echo the value: it is the key.
        raise InvalidRequest(
            "the secret key is not valid: it must be 32 url-safe base64-encoded bytes "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from None


def seal(settings: Settings, secret: str) -> str:
    return box(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, ciphertext: str, *, source: str) -> str:
    try:
        return box(settings).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the secret of source %(name)r cannot be decrypted with this collector's secret "
            "key: give it the key used when the source was added, or add the source again",
            name=source,
        ) from None


def hint(url: str) -> str:
    """What may be shown of a secret URL: scheme and host, the rest replaced."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."
