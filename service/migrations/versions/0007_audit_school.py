"""Every audit entry belongs to a school (issue 13): before, one school's admin read every
school's audit log. Existing entries get the school of the user who acted, or of the lesson,
device, user or school they name; on a collector with one school, that school.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Each names the school of an entry by what the entry mentions; the first that finds one wins.
_BACKFILL = (
    "UPDATE audit_log SET school_id = (SELECT u.school_id FROM users u "
    "WHERE 'user:' || u.username = audit_log.actor) WHERE school_id IS NULL",
    "UPDATE audit_log SET school_id = (SELECT l.school_id FROM lessons l "
    "WHERE 'lesson:' || l.id = audit_log.object) WHERE school_id IS NULL",
    "UPDATE audit_log SET school_id = (SELECT d.school_id FROM devices d "
    "WHERE 'device:' || d.id = audit_log.object OR 'device:' || d.id = audit_log.actor) "
    "WHERE school_id IS NULL",
    "UPDATE audit_log SET school_id = (SELECT u.school_id FROM users u "
    "WHERE 'user:' || u.username = audit_log.object) WHERE school_id IS NULL",
    "UPDATE audit_log SET school_id = (SELECT s.id FROM schools s "
    "WHERE 'school:' || CAST(s.id AS VARCHAR(20)) = audit_log.object) WHERE school_id IS NULL",
    "UPDATE audit_log SET school_id = (SELECT MIN(s.id) FROM schools s) "
    "WHERE school_id IS NULL AND (SELECT COUNT(*) FROM schools) = 1",
)


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("school_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_audit_log_school_id"), ["school_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_audit_log_school_id_schools"), "schools", ["school_id"], ["id"]
        )
    for statement in _BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint(batch.f("fk_audit_log_school_id_schools"), type_="foreignkey")
        batch.drop_index(batch.f("ix_audit_log_school_id"))
        batch.drop_column("school_id")
