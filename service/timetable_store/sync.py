"""Syncing fetched sources: claim, fetch, import, apply, record; once across collector processes.

Each step keeps its transaction short: a source is claimed (compare-and-set on
``claimed_until``, under the advisory lock on PostgreSQL, as the retention purge does), fetched
with no transaction open, imported (pure), and then applied and recorded in one transaction. A
process that dies mid-sync loses its claim when ``CLAIM_HOLD`` has passed. Whatever goes wrong
is recorded on the source (``last_result``, ``last_error``) and nothing is stored for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db import job_lock
from service.errors import ServiceError
from service.models import School, TimetableSource
from service.schools import registry as schools
from service.settings import Settings
from service.timetable import ImportResult, Limits, TimetableError, Window
from service.timetable_store import fetch, inputs, sources, store

log = logging.getLogger("lessonwatch.timetable")

SYNC_LOCK = 734_1003  # next to service.db's MIGRATION_LOCK and PURGE_LOCK
CLAIM_HOLD = timedelta(minutes=10)

Fetcher = Callable[[fetch.Request, int], bytes]


def default_fetcher(settings: Settings) -> Fetcher:
    allow = settings.allowed_fetch_hosts

    def fetcher(request: fetch.Request, limit: int) -> bytes:
        return fetch.fetch(request, limit=limit, allow=allow)

    return fetcher


@dataclass(frozen=True)
class Outcome:
    name: str
    result: str  # ok, refused, failed, busy
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def sync_window(now: datetime, tz: Any, days_ahead: int) -> Window:
    """From the start of today (school time) to ``days_ahead`` days later."""
    today = datetime.combine(now.astimezone(tz).date(), time(), tz)
    return Window(today, today + timedelta(days=days_ahead))


def _request(
    session: Session, settings: Settings, source: TimetableSource, window: Window
) -> fetch.Request:
    secret = sources.secret_of(session, settings, source)
    if source.kind == "ical_url":
        return fetch.feed_request(secret, name=source.name)
    return fetch.zermelo_request(
        source.options["portal"],
        secret,
        start=int(window.start.timestamp()),
        end=int(window.end.timestamp()),
        params=source.options.get("params", {}),
        name=source.name,
    )


def _record(
    sessions: sessionmaker[Session], source_id: int, now: datetime, outcome: Outcome
) -> None:
    with sessions.begin() as session:
        row = session.get_one(TimetableSource, source_id)
        row.last_sync_at = now
        row.last_result = outcome.result
        row.last_counts = outcome.counts or None
        row.last_error = outcome.error[:4000] if outcome.error else None
        row.claimed_until = None


def sync_one(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    source_id: int,
    now: datetime,
    claimed: bool = False,
    fetcher: Fetcher | None = None,
    limits: Limits | None = None,
    actor: str = "sync",
) -> Outcome:
    """Sync one fetched source now; ``busy`` when another process has it."""
    limits = limits or Limits()
    with sessions.begin() as session:
        source = session.get_one(TimetableSource, source_id)
        name = source.name
        if not claimed and not sources.claim(
            session, source_id=source_id, now=now, hold=CLAIM_HOLD
        ):
            return Outcome(name, "busy")
        school = session.get_one(School, source.school_id)
        tz = schools.check_timezone(school.timezone)
        window = sync_window(now, tz, int(source.options.get("days_ahead", 56)))
        mapping_text, default_group, kind = source.mapping, source.default_group, source.kind
        try:
            request = _request(session, settings, source, window)
        except ServiceError as exc:
            early = Outcome(name, "failed", error=exc.message)
            request = None
    if request is None:
        _record(sessions, source_id, now, early)
        return early
    try:
        data = (fetcher or default_fetcher(settings))(request, limits.max_bytes)
        result = inputs.read(
            data,
            fmt="zermelo" if kind == "zermelo" else "ical",
            source=name,
            name=name,
            tz=tz,
            window=window,
            mapping=inputs.mapping_of(mapping_text, name=f"{name} mapping"),
            default_group=default_group,
            partial=False,
            limits=limits,
        )
    except fetch.FetchFailed as exc:
        outcome = Outcome(name, "failed", error=str(exc))
    except TimetableError as exc:
        outcome = Outcome(name, "refused", error=fetch.scrub(str(exc), request.secrets))
    else:
        try:
            outcome = _apply(sessions, source_id, name, result, now=now, actor=actor)
        except ServiceError as exc:
            outcome = Outcome(name, "refused", error=f"{name}: {exc.message}")
    _record(sessions, source_id, now, outcome)
    log.info("timetable sync of %r: %s %s", name, outcome.result, outcome.error or outcome.counts)
    return outcome


def _apply(
    sessions: sessionmaker[Session],
    source_id: int,
    name: str,
    result: ImportResult,
    *,
    now: datetime,
    actor: str,
) -> Outcome:
    with sessions.begin() as session:
        school = session.get_one(School, session.get_one(TimetableSource, source_id).school_id)
        stored = store.load(session, school=school, source=name)
        plan = store.plan(stored, result, now=now)
        applied = store.apply(
            session, school=school, plan=plan, stored=stored, now=now, actor=actor, source=name
        )
    return Outcome(name, "ok", counts={"lessons": len(result.occurrences), **applied.counts()})


def run_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    fetcher: Fetcher | None = None,
    limits: Limits | None = None,
) -> list[Outcome]:
    """Sync every source whose interval has passed; another process's sources are left alone."""
    with sessions.begin() as session, job_lock(session, SYNC_LOCK) as mine:
        if not mine:
            return []
        due = [
            s.id
            for s in session.scalars(select(TimetableSource).order_by(TimetableSource.id))
            if sources.is_due(s, now)
        ]
        claimed = [i for i in due if sources.claim(session, source_id=i, now=now, hold=CLAIM_HOLD)]
    outcomes = []
    for source_id in claimed:
        try:
            outcomes.append(
                sync_one(
                    sessions,
                    settings,
                    source_id=source_id,
                    now=now,
                    claimed=True,
                    fetcher=fetcher,
                    limits=limits,
                )
            )
        except Exception:
            # One broken source must not stop the others; it is retried next interval.
            log.exception("timetable sync of source %s failed", source_id)
            _record(
                sessions,
                source_id,
                now,
                Outcome(str(source_id), "failed", error="internal error; see the collector's log"),
            )
    return outcomes
