"""The device's identity: id and token from enrolment, bound to this machine.

A cloned disk image carries the state directory along. The machine fingerprint (a salted
SHA-256 of the OS machine id, never the raw id) is stored at enrolment; when it no longer
matches the machine the agent runs on, the identity belongs to another device and the agent
refuses to use it.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ClonedIdentity, FatalError, NotEnrolled
from agent.paths import StatePaths, write_private

_SALT = b"lessonwatch-agent-fingerprint-v1:"


@dataclass(frozen=True)
class Identity:
    server: str
    device_id: str
    group: str
    school: str
    fingerprint: str
    label: str | None = None


def check_server_url(url: str) -> str:
    """The collector URL without a trailing slash; plain http only to a loopback address."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise FatalError(f"server URL must be https://host[:port]: {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise FatalError(
            f"refusing plain http to {parts.hostname}: use https (http is allowed to loopback only)"
        )
    if parts.query or parts.fragment:
        raise FatalError(f"server URL must not carry a query or fragment: {url!r}")
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def machine_id() -> str | None:
    """The OS's stable machine id, or None where it cannot be read."""
    system: str = sys.platform  # a plain str: every branch is checked on every OS
    if system.startswith("linux"):
        for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                value = Path(path).read_text().strip()
            except OSError:
                continue
            if value:
                return value
        return None
    if system == "win32":
        winreg: Any = importlib.import_module("winreg")
        try:
            with winreg.OpenKey(
                winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography"
            ) as key:
                return str(winreg.QueryValueEx(key, "MachineGuid")[0])
        except OSError:
            return None
    if system == "darwin":
        try:
            out = subprocess.run(
                ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in out.splitlines():
            if "IOPlatformUUID" in line:
                return line.split("=", 1)[1].strip().strip('"')
    return None


def fingerprint(raw_machine_id: str | None) -> str:
    """Salted hex SHA-256 of the machine id; a fixed marker when the OS gives none."""
    return hashlib.sha256(_SALT + (raw_machine_id or "unknown").encode()).hexdigest()


def save(paths: StatePaths, identity: Identity, token: str) -> None:
    paths.ensure()
    write_private(paths.token, token.encode())
    write_private(paths.identity, json.dumps(asdict(identity), indent=2).encode())


def load(paths: StatePaths, current_fingerprint: str) -> tuple[Identity, str]:
    """The stored identity and token; FatalError if absent, unreadable or from another machine."""
    try:
        data = json.loads(paths.identity.read_text(encoding="utf-8"))
        token = paths.token.read_text(encoding="utf-8").strip()
        identity = Identity(**data)
    except FileNotFoundError:
        raise NotEnrolled(
            f"not enrolled: no identity in {paths.root}; run 'lessonwatch-agent enroll'"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise FatalError(
            f"identity in {paths.root} is unreadable ({exc.__class__.__name__}); enrol again"
        ) from None
    if identity.fingerprint != current_fingerprint:
        raise ClonedIdentity(
            f"the identity in {paths.root} was made on another machine (cloned image?): "
            "IT must enrol this device again with 'lessonwatch-agent enroll'"
        )
    if not token:
        raise FatalError(f"token file {paths.token} is empty; enrol again")
    check_server_url(identity.server)
    return identity, token
