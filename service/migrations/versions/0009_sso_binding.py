"""SSO accounts bound to the provider's issuer and subject (issue 14, part 8).

``users.sso_issuer`` and ``users.sso_subject``: set at a user's first SSO sign-in (linked by a
verified e-mail, within the school the provider is configured for); every later sign-in matches
by them alone, so an e-mail or user name someone else can set at the provider never picks the
account. Existing users have none and are linked at their next SSO sign-in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sso_issuer", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("sso_subject", sa.String(length=300), nullable=True))
        batch.create_unique_constraint(
            batch.f("uq_users_sso_issuer"), ["sso_issuer", "sso_subject"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("uq_users_sso_issuer"), type_="unique")
        batch.drop_column("sso_subject")
        batch.drop_column("sso_issuer")
