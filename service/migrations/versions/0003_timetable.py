"""Timetables (issue 6): sources and their encrypted secrets, school holidays, lesson keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:42:36.963838
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=20), nullable=False),
        sa.Column("schoolyear", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("compulsory", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_holidays")),
    )
    with op.batch_alter_table("school_holidays", schema=None) as batch_op:
        batch_op.create_index(
            "ix_school_holidays_region_days", ["region", "first_day", "last_day"], unique=False
        )

    op.create_table(
        "timetable_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=True),
        sa.Column("default_group", sa.String(length=64), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("secret_hint", sa.String(length=200), nullable=True),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.String(length=20), nullable=True),
        sa.Column("last_counts", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_timetable_sources_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timetable_sources")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_timetable_sources_school_id")),
    )
    with op.batch_alter_table("timetable_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timetable_sources_school_id"), ["school_id"], unique=False
        )

    op.create_table(
        "timetable_secrets",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["timetable_sources.id"],
            name=op.f("fk_timetable_secrets_source_id_timetable_sources"),
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_timetable_secrets")),
    )
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("teacher_code", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_lessons_source_key", ["school_id", "source", "uid", "recurrence_id"]
        )

    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("holiday_advised", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_column("holiday_advised")

    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_constraint("uq_lessons_source_key", type_="unique")
        batch_op.drop_column("teacher_code")

    op.drop_table("timetable_secrets")
    with op.batch_alter_table("timetable_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timetable_sources_school_id"))

    op.drop_table("timetable_sources")
    with op.batch_alter_table("school_holidays", schema=None) as batch_op:
        batch_op.drop_index("ix_school_holidays_region_days")

    op.drop_table("school_holidays")
