"""Which code enrolled each device, and revoked codes (issue 14, one device one voice).

``devices.enrolment_code_id``: the code a device was enrolled with, so IT can retire every
device a leaked code let in. Devices enrolled before this revision did not record it: NULL.

``enrolment_codes.revoked_at``: a revoked code enrols nothing, whatever uses it has left.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        # Not in batch mode: it copies ``devices`` and drops the old table, which the stored
        # summaries reference, and SQLite refuses that drop with foreign keys on. ADD COLUMN
        # may carry a REFERENCES clause for a column whose default is NULL.
        op.execute(
            "ALTER TABLE devices ADD COLUMN enrolment_code_id INTEGER CONSTRAINT "
            "fk_devices_enrolment_code_id_enrolment_codes REFERENCES enrolment_codes (id)"
        )
    else:
        op.add_column("devices", sa.Column("enrolment_code_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_devices_enrolment_code_id_enrolment_codes"),
            "devices",
            "enrolment_codes",
            ["enrolment_code_id"],
            ["id"],
        )
    op.create_index(op.f("ix_devices_enrolment_code_id"), "devices", ["enrolment_code_id"])
    op.add_column(
        "enrolment_codes",
        sa.Column("revoked_at", service.db.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("enrolment_codes") as batch:
        batch.drop_column("revoked_at")
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint(
            batch.f("fk_devices_enrolment_code_id_enrolment_codes"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_devices_enrolment_code_id"))
        batch.drop_column("enrolment_code_id")
