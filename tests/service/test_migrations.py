"""The shipped migrations: they build exactly the models, and running them again is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service import db
from service.models import Base


def test_migrations_match_the_models_and_rerun_cleanly(empty_db_url: str) -> None:
    """After migrating (twice) the database has every table and column the models declare."""
    engine = db.make_engine(empty_db_url)
    try:
        db.migrate(engine)
        db.migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
