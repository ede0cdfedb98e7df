"""The attention list (issue 17): the school's threshold, and an index for its window.

``schools.attention_threshold``: the share of device-lessons with findings, in percent, from
which a group and subject is listed for the leaders' attention; 20 for every school here.

``ix_lessons_school_start``: the attention list reads a school's lessons of some weeks at once;
without it SQLite walks every lesson of the school (and PostgreSQL reads the school's index and
filters a year of lessons by time).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A NOT NULL column with a server default: SQLite adds it without copying the table.
    op.add_column(
        "schools",
        sa.Column("attention_threshold", sa.Integer(), nullable=False, server_default="20"),
    )
    op.create_index("ix_lessons_school_start", "lessons", ["school_id", "start"])


def downgrade() -> None:
    op.drop_index("ix_lessons_school_start", table_name="lessons")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("attention_threshold")
