"""Per-lesson totals (issue 9): what the trend and the escalations read of many lessons, with
the fingerprint of the summaries they were counted from. Filled on first read, so empty here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesson_totals",
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summaries", sa.Integer(), nullable=False),
        sa.Column("last_summary_id", sa.Integer(), nullable=False),
        sa.Column("last_received_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name=op.f("fk_lesson_totals_lesson_id_lessons")
        ),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_lesson_totals")),
    )


def downgrade() -> None:
    op.drop_table("lesson_totals")
