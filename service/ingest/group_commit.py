"""Several requests' report batches stored in one transaction, each answered after it commits.

A transaction costs the same few statements (one read of the schools, lessons and stored
windows, the insert, the commit; ``service.ingest.statements``) whether it holds one summary or
fifty; ``service.combiner`` hands this module the batches of the requests that arrived
together. Each request gets the results it would have had alone (``ingest.store`` decides them
in arrival order), and only after the transaction holding its rows has committed, so an
acknowledged summary is durable.

If the group's transaction fails, the batches are stored again one transaction each: one bad
request (say a device erased by an admin meanwhile, whose rows now break a foreign key) fails
alone. A group of one is not tried twice: its caller gets the error, as before group commit. A
group that failed for a lost connection (its COMMIT sent, the answer lost) may have stored its
rows: the batches stored alone then find them and answer ``duplicate``, as the agent's own retry
would, and the agent deletes duplicates from its queue as it does accepted items.

Across collector processes nothing is shared but the database: the unique ``report_id`` stays the
arbiter (``statements.insert``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from service.ingest import summaries as ingest
from service.ingest.bounds import MAX_SUMMARIES_PER_LESSON
from service.ingest.pg_writer import PostgresWriter
from service.ingest.summaries import ItemResult, Parsed

log = logging.getLogger("lessonwatch.service")

Outcome = list[ItemResult] | BaseException


def write_group(
    engine: Engine,
    batches: Sequence[Parsed],
    *,
    clock: Callable[[], datetime],
    future_tolerance: timedelta,
    most_per_lesson: int = MAX_SUMMARIES_PER_LESSON,
    writer: PostgresWriter | None = None,
) -> list[Outcome]:
    """One outcome per batch, in order: its results, or the error its request should answer.
    With ``writer`` (PostgreSQL) the transactions run on its connection, not the engine's."""
    limits = (future_tolerance, most_per_lesson)
    engine_or_writer: Engine | PostgresWriter = writer or engine
    try:
        return list(_in_one_transaction(engine_or_writer, batches, clock, limits))
    except Exception as exc:
        if len(batches) == 1:
            return [exc]
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        log.warning(
            "a group of %d report batches failed (%s: %s); storing each alone",
            len(batches),
            type(exc).__name__,
            first_line,
        )
    outcomes: list[Outcome] = []
    for batch in batches:
        try:
            outcomes += _in_one_transaction(engine_or_writer, [batch], clock, limits)
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _in_one_transaction(
    engine: Engine | PostgresWriter,
    batches: Sequence[Parsed],
    clock: Callable[[], datetime],
    limits: tuple[timedelta, int],
) -> list[list[ItemResult]]:
    if isinstance(engine, PostgresWriter):
        return engine.store(
            batches, now=clock(), future_tolerance=limits[0], most_per_lesson=limits[1]
        )
    # A connection, not an ORM session: the transaction loads and changes no ORM objects, so a
    # session's bookkeeping (its transaction object, connection look-up, commit) is CPU spent
    # for nothing, in every group.
    with engine.begin() as conn:
        return ingest.store(
            conn,
            batches,
            now=clock(),
            future_tolerance=limits[0],
            most_per_lesson=limits[1],
        )
