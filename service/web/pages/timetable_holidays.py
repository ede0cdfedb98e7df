"""School holidays for admins: the school's region, the holidays the school reads per region
(its own imports, else the shared national reference), and an import of the Rijksoverheid
open-data file, uploaded or fetched from its URL, which is the school's alone."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from service.errors import InvalidRequest, ServiceError
from service.models import User
from service.timetable import REGIONS, TimetableError
from service.timetable.holidays import MAX_BYTES, NATIONWIDE
from service.timetable_store import fetch, holidays, sources
from service.web.pages.timetable_sources import school_of


def holidays_page(session: Session, *, viewer: User, region: str | None) -> dict[str, Any]:
    school = school_of(session, viewer)
    if region is not None and region not in REGIONS:
        raise InvalidRequest("region must be one of %(choices)s", choices=", ".join(REGIONS))
    shown = region or (school.holiday_region if school.holiday_region in REGIONS else None)
    return {
        "regions": list(REGIONS),
        "school_region": school.holiday_region,
        "advised": school.holiday_advised,
        "region": shown,
        "max_bytes": MAX_BYTES,
        "own_periods": holidays.own_periods(session, school.id),
        "holidays": [
            {
                "name": h.name,
                # The shared national reference, or a file this school imported.
                "shared": h.school_id is None,
                "schoolyear": h.schoolyear,
                "region": h.region,
                "nationwide": h.region == NATIONWIDE,
                "first_day": h.first_day.isoformat(),
                "last_day": h.last_day.isoformat(),
                "compulsory": h.compulsory,
            }
            for h in holidays.rows(session, school_id=school.id, region=shown)
        ],
    }


def fetch_file(url: str, *, seconds: float, allow: Collection[str]) -> tuple[bytes, str]:
    """The holiday file at ``url`` (https, or http to this machine): at most MAX_BYTES, in at
    most ``seconds``. Called outside any database transaction: a slow server holds nothing."""
    checked = sources.check_url(url, "holiday URL")
    try:
        data = fetch.fetch(
            fetch.Request(url=checked, name="holidays"),
            limit=MAX_BYTES,
            allow=allow,
            timeout=seconds,
            total=seconds,
        )
    except (fetch.FetchFailed, TimetableError) as exc:
        raise InvalidRequest("holiday URL: %(problem)s", problem=exc) from None
    return data, checked.rsplit("/", 1)[-1][:100] or "holidays"


def may_import(session: Session, viewer: User | None) -> bool:
    """Whether ``viewer`` may import holidays: asked before a URL is fetched for them."""
    if viewer is None or viewer.disabled:
        return False
    try:
        school_of(session, viewer)
    except ServiceError:
        return False
    return True
