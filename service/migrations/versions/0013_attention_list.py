"""The attention list (issue 17): the school's threshold, and an index for its window.

``schools.attention_threshold``: the share of device-lessons with findings, in percent, from
which a group and subject is listed for the leaders' attention; 20 for every school here.

``ix_lessons_school_start``: the attention list reads a school's lessons of some weeks at once;
without it SQLite walks every lesson of the school (and PostgreSQL reads the school's index and
filters a year of lessons by time).

``lesson_totals.devices_reporting`` and ``devices_flagged``: two numbers of the kept JSON as
columns (devices reporting, and the largest category count: device-lessons with findings), so
the list sums them without reading JSON; filled here from the JSON of the rows kept already.
``ix_lesson_totals_attention`` covers what the list reads of the table.

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
    op.add_column("lesson_totals", sa.Column("devices_reporting", sa.Integer(), nullable=True))
    op.add_column("lesson_totals", sa.Column("devices_flagged", sa.Integer(), nullable=True))
    if op.get_context().dialect.name == "sqlite":
        op.execute(
            "UPDATE lesson_totals SET"
            " devices_reporting = CAST(json_extract(data, '$.devices_reporting') AS INTEGER),"
            " devices_flagged = coalesce((SELECT max(CAST(json_extract(c.value, '$.devices')"
            " AS INTEGER)) FROM json_each(data, '$.categories') AS c), 0)"
        )
    else:
        op.execute(
            "UPDATE lesson_totals SET"
            " devices_reporting = CAST(data ->> 'devices_reporting' AS INTEGER),"
            " devices_flagged = coalesce((SELECT max(CAST(c.value ->> 'devices' AS INTEGER))"
            " FROM json_array_elements(data -> 'categories') AS c(value)), 0)"
        )
    op.create_index(
        "ix_lesson_totals_attention",
        "lesson_totals",
        ["lesson_id", "version", "devices_reporting", "devices_flagged"],
    )


def downgrade() -> None:
    op.drop_index("ix_lesson_totals_attention", table_name="lesson_totals")
    with op.batch_alter_table("lesson_totals") as batch:
        batch.drop_column("devices_flagged")
        batch.drop_column("devices_reporting")
    op.drop_index("ix_lessons_school_start", table_name="lessons")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("attention_threshold")
