"""The school a command-line test works on, founded as a fresh collector's IT founds it."""

from __future__ import annotations

from datetime import UTC, datetime

from service import db
from service.schools import founding
from service.schools.registry import DEFAULT_SCHOOL


def found_school(url: str, name: str = DEFAULT_SCHOOL) -> str:
    """Found ``name`` on the database at ``url`` (the operation behind ``schools add``) and
    return ``url``: commands refuse a school that is not there, and found none themselves.

    Called directly rather than through ``main`` so it prints nothing into the test's capture.
    """
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine).begin() as session:
            founding.add_school(session, name=name, now=datetime.now(UTC))
    finally:
        engine.dispose()
    return url
