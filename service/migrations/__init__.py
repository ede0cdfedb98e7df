"""Alembic migrations, shipped inside the package and applied by ``service.db.migrate``."""
