"""Timetable pages (issue 6): uploads kept between preview and confirm, admins' lesson edits.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timetable_uploads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("default_group", sa.String(length=64), nullable=True),
        sa.Column("mapping", sa.String(length=40), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_timetable_uploads_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timetable_uploads")),
    )
    with op.batch_alter_table("timetable_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timetable_uploads_school_id"), ["school_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_timetable_uploads_session_id"), ["session_id"], unique=False
        )
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edited", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_column("edited")
    with op.batch_alter_table("timetable_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timetable_uploads_session_id"))
        batch_op.drop_index(batch_op.f("ix_timetable_uploads_school_id"))
    op.drop_table("timetable_uploads")
