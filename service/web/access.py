"""Who may see what on the web pages: pure decisions over roles and the school's settings.

Lesson access itself is ``service.lesson_report.check_access`` (shared with the API and CLI).
Device-level data: teachers and IT never; leaders when the school's ``disclosure`` is
``pseudonymous``; admins when its ``admin_disclosure`` is.
"""

from __future__ import annotations

from service.errors import Forbidden
from service.models import School, User

STAFF_PAGES = ("admin", "leader", "teacher")
ADMIN = ("admin",)
SCHOOL_WIDE = ("admin", "leader")


def require_role(user: User, roles: tuple[str, ...]) -> None:
    if user.role not in roles:
        raise Forbidden("this page is not open to your role")


def device_level_allowed(role: str, *, disclosure: str, admin_disclosure: str) -> bool:
    if role == "leader":
        return disclosure == "pseudonymous"
    if role == "admin":
        return admin_disclosure == "pseudonymous"
    return False


def may_see_devices(user: User, school: School) -> bool:
    return device_level_allowed(
        user.role, disclosure=school.disclosure, admin_disclosure=school.admin_disclosure
    )
