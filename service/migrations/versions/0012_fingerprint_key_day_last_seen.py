"""Each school's fingerprint key, and last_seen kept as a day (issue 15).

``schools.fingerprint_key``: 32 random bytes as hex, a new one for every school already here.
Agents ask for it with their enrolment code and send HMAC-SHA256(key, machine id) as their
fingerprint, so a machine id alone no longer gives a stored fingerprint. Devices enrolled before
keep the fingerprint they sent: it is compared only with others of the same school.

``devices.last_seen``: cut to the start of the school-local day it falls in (stored in UTC);
from now on the collector writes no finer value.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

schools = sa.table(
    "schools",
    sa.column("id", sa.Integer()),
    sa.column("timezone", sa.String()),
    sa.column("fingerprint_key", sa.String()),
)
devices = sa.table(
    "devices",
    sa.column("id", sa.String()),
    sa.column("school_id", sa.Integer()),
    sa.column("last_seen", service.db.UTCDateTime(timezone=True)),
)


def _day_start(moment: datetime, zone_name: str | None) -> datetime:
    # As service.devices.seen.day_start then; written out so this revision never changes.
    try:
        tz = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local_day = moment.astimezone(tz).date()
    return datetime.combine(local_day, time(0), tzinfo=tz).astimezone(UTC)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        # SQLite cannot make a column NOT NULL afterwards without copying the table (which the
        # other tables reference); a NOT NULL column added with a default is allowed, and every
        # row gets its own key below.
        op.execute("ALTER TABLE schools ADD COLUMN fingerprint_key VARCHAR(64) NOT NULL DEFAULT ''")
    else:
        op.add_column("schools", sa.Column("fingerprint_key", sa.String(64), nullable=True))
    conn = op.get_bind()
    for (school_id,) in conn.execute(sa.select(schools.c.id)).all():
        conn.execute(
            schools.update()
            .where(schools.c.id == school_id)
            .values(fingerprint_key=secrets.token_hex(32))
        )
    if op.get_context().dialect.name != "sqlite":
        op.alter_column("schools", "fingerprint_key", nullable=False)
    seen = conn.execute(
        sa.select(devices.c.id, devices.c.last_seen, schools.c.timezone)
        .join(schools, schools.c.id == devices.c.school_id)
        .where(devices.c.last_seen.is_not(None))
    ).all()
    for device_id, last_seen, zone_name in seen:
        conn.execute(
            devices.update()
            .where(devices.c.id == device_id)
            .values(last_seen=_day_start(last_seen, zone_name))
        )


def downgrade() -> None:
    # The times of day cut off by the upgrade are gone; last_seen stays a day.
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("fingerprint_key")
