"""Every school its own holidays, and its own audit-log retention (issue 13).

``school_holidays.school_id``: NULL is the shared national reference every school reads; a
holiday file a school's admin imports from now on is stored under that school. The rows stored
so far stay shared reference: they were imported through the pages or the command line while
holidays were global, the page always stored the whole national file (every region), and
nothing records a school's own changes to it, so moving them to one school would take the
other schools' holidays away.

``schools.audit_retention_days``: the retention purge deletes a school's audit entries older
than this; existing schools get the default of 365 days.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("school_holidays") as batch:
        batch.add_column(sa.Column("school_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_school_holidays_school_id"), ["school_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_school_holidays_school_id_schools"), "schools", ["school_id"], ["id"]
        )
    with op.batch_alter_table("schools") as batch:
        batch.add_column(
            sa.Column("audit_retention_days", sa.Integer(), nullable=False, server_default="365")
        )


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("audit_retention_days")
    # A school's own rows cannot become shared reference for everyone: they go.
    op.execute("DELETE FROM school_holidays WHERE school_id IS NOT NULL")
    with op.batch_alter_table("school_holidays") as batch:
        batch.drop_constraint(batch.f("fk_school_holidays_school_id_schools"), type_="foreignkey")
        batch.drop_index(batch.f("ix_school_holidays_school_id"))
        batch.drop_column("school_id")
