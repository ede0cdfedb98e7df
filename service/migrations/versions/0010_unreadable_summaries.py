"""Delete the stored summaries that no longer parse (issue 14).

Collectors before issue 14 accepted a summary dated in year 1 and wrote it back as
``1-01-01T00:00:00Z``, which the wire parser refuses: every read of its lesson, its group's
trend, the escalations page, the export and the purge then failed. Reads now leave such a row
out and count it as unreadable (``service.reports.stored``); this migration deletes the ones
already stored, rather than keeping them in quarantine: an unreadable row can never be counted
or shown, and it is device-level data the school keeps no longer than it needs. The kept totals
of their lessons are dropped too, so they are counted again without them. The number deleted
is logged; nothing else about a row is (its contents came from a hostile device).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:30:00.000000
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from policies.wire import parse_summary

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
CHUNK = 500

summaries = sa.table(
    "device_lesson_summaries",
    sa.column("id", sa.Integer()),
    sa.column("lesson_id", sa.String()),
    sa.column("summary", sa.JSON()),
)
totals = sa.table("lesson_totals", sa.column("lesson_id", sa.String()))


def _readable(data: object) -> bool:
    try:
        parse_summary(data)
    except Exception:  # whatever the parser makes of it, the row cannot be read
        return False
    return True


def upgrade() -> None:
    conn = op.get_bind()
    bad: list[int] = []
    lessons: set[str] = set()
    rows = conn.execute(sa.select(summaries.c.id, summaries.c.lesson_id, summaries.c.summary))
    for row_id, lesson_id, data in rows:
        if not _readable(data):
            bad.append(row_id)
            lessons.add(lesson_id)
    for i in range(0, len(bad), CHUNK):
        conn.execute(sa.delete(summaries).where(summaries.c.id.in_(bad[i : i + CHUNK])))
    ids = sorted(lessons)
    for i in range(0, len(ids), CHUNK):
        conn.execute(sa.delete(totals).where(totals.c.lesson_id.in_(ids[i : i + CHUNK])))
    if bad:
        log.warning("deleted %d stored summaries that no longer parse", len(bad))


def downgrade() -> None:
    pass  # the deleted rows were unreadable; there is nothing to put back
