"""Alembic environment: runs on the connection ``service.db.migrate`` hands over.

To write a new migration against a scratch database:
``python -m service.migrations.new "message"`` (see docs/cli.md, "For developers").
"""

from __future__ import annotations

from alembic import context

from service.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
