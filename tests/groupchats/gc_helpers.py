"""Builders shared by the register tests: a valid chat, and a school with its staff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.models import User
from service.schools import registry as schools
from tests.support.clock import DEMO_NOW

NOW = DEMO_NOW


def chat(**changes: Any) -> dict[str, Any]:
    """A chat that breaks nothing while the school has no closed platform."""
    base: dict[str, Any] = {
        "group": "3B",
        "platform": "signal",
        "account": "school",
        "purposes": ["homework", "trips"],
        "pupils_in_class": 28,
        "pupils_in_chat": 28,
        "youngest_age": 14,
        "parental_consent": True,
        "alternative": "mail",
    }
    return {**base, **changes}


@dataclass
class Staff:
    ann: int
    bob: int
    lea: int
    root: int
    ict: int
    other_school_teacher: int


def add_staff(sessions: sessionmaker[Session], password_hash: str) -> Staff:
    with sessions.begin() as s:
        school = schools.school(s)
        other = schools.school(s, "Other school")
        ids = {}
        for name, role, where in (
            ("ann", "teacher", school),
            ("bob", "teacher", school),
            ("lea", "leader", school),
            ("root", "admin", school),
            ("ict", "it", school),
            ("zed", "teacher", other),
        ):
            user = User(
                school_id=where.id,
                username=name,
                role=role,
                password_hash=password_hash,
                created_at=NOW,
            )
            s.add(user)
            s.flush()
            ids[name] = user.id
        return Staff(ids["ann"], ids["bob"], ids["lea"], ids["root"], ids["ict"], ids["zed"])


def user(s: Session, uid: int) -> User:
    return s.get_one(User, uid)
