"""Actors for test set-up: the operator at the command line, acting for a user's school."""

from __future__ import annotations

from service.actors import Actor
from service.models import User


def operator_for(user: User) -> Actor:
    """What ``lessonwatch-service --school <the user's school>`` acts as."""
    return Actor("operator", "cli", user.school_id, "admin")
