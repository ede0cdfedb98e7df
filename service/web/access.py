"""The pages' short names for the decisions in ``service.access``; no decision is made here.

Kept so that page modules of other subjects read ``access.require_role(viewer, access.ADMIN)``
unchanged; new code calls ``service.access`` with an ``Actor``.
"""

from __future__ import annotations

from service import access
from service.access import Ability
from service.actors import Actor
from service.models import User

STAFF_PAGES = Ability.STAFF_PAGES
ADMIN = Ability.ADMINISTER
SCHOOL_WIDE = Ability.SCHOOL_OVERVIEW


def require_role(user: User, ability: Ability) -> None:
    access.require(Actor.of_user(user), ability)
