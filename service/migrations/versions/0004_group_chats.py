"""Group-chat register (issue 7): declared class group chats and the findings of their check.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=10), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("pupils_in_class", sa.Integer(), nullable=False),
        sa.Column("pupils_in_chat", sa.Integer(), nullable=False),
        sa.Column("youngest_age", sa.Integer(), nullable=False),
        sa.Column("parental_consent", sa.Boolean(), nullable=False),
        sa.Column("alternative", sa.String(length=20), nullable=False),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("checked_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_against", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_group_chats_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_group_chats_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_chats")),
    )
    with op.batch_alter_table("group_chats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_chats_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_group_chats_school_id"), ["school_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("group_chats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_chats_school_id"))
        batch_op.drop_index(batch_op.f("ix_group_chats_owner_id"))
    op.drop_table("group_chats")
