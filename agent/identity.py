"""The device's identity: id and token from enrolment, bound to this machine.

The fingerprint sent at enrolment is HMAC-SHA256 of the OS machine id keyed with the school's
fingerprint key, which the collector gives only to a device holding a usable enrolment code
(issue 15): a machine id alone does not give it, and clones of one image in one school still
send the same one. The key is used once and never stored.

A cloned disk image carries the state directory along. So that a clone is recognised on start,
without the key, enrolment also stores a check of its own: HMAC-SHA256 of the machine id keyed
with random bytes made for this enrolment (``machine_salt``, ``machine_check``; neither leaves
the device). When the check no longer matches the machine the agent runs on, the identity
belongs to another device and the agent refuses to use it. An identity written before the
check existed is compared as it was then: its fingerprint against the unkeyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import ipaddress
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ClonedIdentity, FatalError, NotEnrolled
from agent.paths import StatePaths, write_private

# The unkeyed hash of agents before issue 15: only to check identities they wrote.
_LEGACY_SALT = b"lessonwatch-agent-fingerprint-v1:"


@dataclass(frozen=True)
class Identity:
    server: str
    device_id: str
    group: str
    school: str
    # What enrolment sent: the keyed fingerprint; None when the collector had no key to give.
    fingerprint: str | None
    label: str | None = None
    machine_salt: str | None = None
    machine_check: str | None = None


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


def keyed(key_hex: str, raw_machine_id: str | None) -> str:
    """Hex HMAC-SHA256 of the machine id under a hex key; a fixed marker stands in for an id
    the OS does not give."""
    message = (raw_machine_id or "unknown").encode()
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha256).hexdigest()


def legacy_fingerprint(raw_machine_id: str | None) -> str:
    """The salted SHA-256 older agents sent and stored; anyone could recompute it."""
    return hashlib.sha256(_LEGACY_SALT + (raw_machine_id or "unknown").encode()).hexdigest()


def bound_to_machine(identity: Identity, raw_machine_id: str | None) -> Identity:
    """``identity`` with a new check of this machine (a fresh random salt) added."""
    import secrets  # only enrolment needs it; ``run`` keeps its imports few (docs/performance.md)

    salt = secrets.token_hex(32)
    return replace(identity, machine_salt=salt, machine_check=keyed(salt, raw_machine_id))


def made_here(identity: Identity, raw_machine_id: str | None) -> bool:
    """Whether ``identity`` was enrolled on the machine with this id."""
    salt, check = identity.machine_salt, identity.machine_check
    if salt is None and check is None:
        return identity.fingerprint == legacy_fingerprint(raw_machine_id)
    if not isinstance(salt, str) or not isinstance(check, str):
        return False  # half a check, or not text: not the file this agent wrote
    try:
        here = keyed(salt, raw_machine_id)
    except ValueError:  # not hex
        return False
    return hmac.compare_digest(here, check)


def save(paths: StatePaths, identity: Identity, token: str) -> None:
    paths.ensure()
    write_private(paths.token, token.encode())
    write_private(paths.identity, json.dumps(asdict(identity), indent=2).encode())


def load(paths: StatePaths, raw_machine_id: str | None) -> tuple[Identity, str]:
    """The stored identity and token; FatalError if absent, unreadable or from another machine
    (``raw_machine_id``: this machine's, from ``machine_id()``)."""
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
    if not made_here(identity, raw_machine_id):
        raise ClonedIdentity(
            f"the identity in {paths.root} was made on another machine (cloned image?): "
            "IT must enrol this device again with 'lessonwatch-agent enroll'"
        )
    if not token:
        raise FatalError(f"token file {paths.token} is empty; enrol again")
    check_server_url(identity.server)
    return identity, token
