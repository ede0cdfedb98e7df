"""Who performs an operation: a signed-in user, a device, or the operator at the command line.

Every operation takes an ``Actor``: it decides what the actor may do (``service.access``), names
the actor in the audit log in one format, and scopes every query to the actor's school. The
operator at the command line acts for the one school named with ``--school``, as its admin: the
command line is run by whoever runs the collector, but it still touches one school at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.models import School, User

Kind = Literal["user", "device", "operator"]


@dataclass(frozen=True)
class Actor:
    kind: Kind
    name: str  # the user name, the device id, or "cli"
    school_id: int
    role: str  # teacher, leader, admin, it; "device" for a device; "admin" for the operator
    user_id: int | None = None

    @property
    def audit_name(self) -> str:
        """The one way the audit log names an actor: ``user:devries``, ``device:d_…``, ``cli``."""
        if self.kind == "operator":
            return "cli"
        return f"{self.kind}:{self.name}"

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls("user", user.username, user.school_id, user.role, user.id)

    @classmethod
    def of_device(cls, device_id: str, school_id: int) -> Actor:
        return cls("device", device_id, school_id, "device")

    @classmethod
    def operator(cls, school: School) -> Actor:
        return cls("operator", "cli", school.id, "admin")
