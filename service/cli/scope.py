"""What a command works on: the database of ``--db`` and the school of ``--school``.

Both are looked up, never made by accident (issue 17, point 11). A command that only reads
(``lessons list``, ``devices list``, ``report``, ``schools show``, ...) opens a database that is
there already and refuses to create one: a mistyped ``--db`` or ``$LESSONWATCH_DB`` would
otherwise leave an empty collector file behind and print an empty list as if all were well. A
command that writes creates and migrates the database, as the collector does on start-up. No
command founds a school except ``schools add``: a mistyped ``--school`` is refused, naming the
schools there are. The operator at the command line is the board's IT, who runs the collector
for all of them and may see their names (``schools list``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from service import db
from service.errors import NotFound
from service.models import School
from service.schools import registry as schools

# A board has tens of schools at most; past this many the message says how many more.
_NAMES_SHOWN = 20


def school_name(args: argparse.Namespace) -> str:
    """``--school``, else ``$LESSONWATCH_SCHOOL``, else ``School``."""
    return str(args.school or os.environ.get("LESSONWATCH_SCHOOL") or schools.DEFAULT_SCHOOL)


def the_school(session: Session, args: argparse.Namespace) -> School:
    """The school the command works on; NotFound naming the known schools when there is none."""
    name = school_name(args)
    found = schools.find(session, name)
    if found is not None:
        return found
    known = schools.names(session)
    listed = ", ".join(repr(n) for n in known[:_NAMES_SHOWN])
    if len(known) > _NAMES_SHOWN:
        listed += f" and {len(known) - _NAMES_SHOWN} more"
    there = f"{len(known)} school{'' if len(known) == 1 else 's'}" + (
        f": {listed}" if known else ""
    )
    # English only, as the command line is, so the message is built first: a literal in the
    # raise would be extracted for the pages' catalog (docs/translations.md).
    message = (
        f"no school {name[:200]!r} on this collector ({there}); give --school or "
        "$LESSONWATCH_SCHOOL, or add it with 'lessonwatch-service schools add NAME'"
    )
    raise NotFound(message)


def open_database(url: str, *, read_only: bool) -> Engine:
    """The engine of ``url``: created and migrated for a command that writes; for one that only
    reads, only a database that exists and was migrated, else NotFound saying so.

    An existing database at an older schema is brought up to date even by a command that
    reads: it is the collector's own database after an upgrade, and reading it at the old
    schema would fail on the first new column.
    """
    if not read_only:
        engine = db.make_engine(url)
        try:
            db.migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return engine
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        # Checked before connecting: SQLite creates a missing file (and make_engine its folder).
        if path in ("", ":memory:") or not Path(path).is_file():
            missing = (
                f"no collector database at {path or ':memory:'!r}: this command only reads and "
                "creates none; check --db or $LESSONWATCH_DB (a command that writes, such as "
                "'schools add', creates the database)"
            )
            raise NotFound(missing)
    engine = db.make_engine(url)
    shown = parsed.render_as_string(hide_password=True)
    try:
        try:
            migrated = db.has_schema(engine)
        except DatabaseError as exc:
            # Not a database at all (a text file), or a PostgreSQL database that is not there.
            raise NotFound(f"cannot read the database {shown!r}: {exc.orig}") from None
        if not migrated:
            unmigrated = (
                f"the database {shown!r} holds no collector schema: this command only reads "
                "and migrates none; check --db or $LESSONWATCH_DB (a command that writes, such "
                "as 'schools add', migrates it)"
            )
            raise NotFound(unmigrated)
        db.migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
