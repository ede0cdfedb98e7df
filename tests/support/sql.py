"""The SQL a real engine runs, recorded through SQLAlchemy's cursor events (no mock)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def recorded(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    """Every statement sent to the database while the block runs, in order (an executemany
    or a transaction's BEGIN counts as one)."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def touching(statements: list[str], table: str) -> list[str]:
    """The statements that name ``table`` (as ``FROM``/``INTO``/``UPDATE``/``JOIN`` target)."""
    marks = (f"FROM {table}", f"INTO {table}", f"UPDATE {table}", f"JOIN {table}")
    return [s for s in statements if any(m in s for m in marks)]
