"""Where the agent keeps its state, and making that place private.

Everything the agent stores lives in one state directory (mode 0700 on POSIX): the identity,
the token (0600), the last good config and the outbox. File names carry a format version so a
future agent can migrate instead of misreading.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.errors import FatalError

ENV_STATE_DIR = "LESSONWATCH_STATE_DIR"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """The state directory: the environment variable, else the platform's per-user state dir."""
    if environ.get(ENV_STATE_DIR):
        return Path(environ[ENV_STATE_DIR])
    import platformdirs

    return Path(platformdirs.user_state_dir("lessonwatch-agent", appauthor=False))


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def identity(self) -> Path:
        return self.root / "identity.v1.json"

    @property
    def token(self) -> Path:
        return self.root / "token.v1"

    @property
    def config(self) -> Path:
        return self.root / "config.v1.json"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox.v1.sqlite"

    @property
    def status(self) -> Path:
        return self.root / "status.v1.json"

    def ensure(self) -> StatePaths:
        """Create the directory private to the service account; FatalError if that fails."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if sys.platform != "win32":
                os.chmod(self.root, 0o700)
        except OSError as exc:
            raise FatalError(f"cannot use state directory {self.root}: {exc.strerror}") from None
        return self


def write_private(path: Path, data: bytes) -> None:
    """Write a file atomically, readable by the owner only (0600 on POSIX), fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if sys.platform != "win32":
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)
