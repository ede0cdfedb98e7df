"""Write a new migration by comparing the models with a scratch SQLite database at head.

python -m service.migrations.new "add chat register"
"""

from __future__ import annotations

import sys
import tempfile
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config

from service.db import make_engine, migrate


def main(argv: list[str]) -> int:
    message = argv[0] if argv else "change"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.sqlite3'}")
        migrate(engine)
        config = Config()
        config.set_main_option("script_location", str(resources.files("service") / "migrations"))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.revision(config, message=message, autogenerate=True)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
