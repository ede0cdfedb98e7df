"""Timetable sources: a school's feeds, Zermelo portals and imported files, with their state.

A feed URL or Zermelo token is sealed into ``timetable_secrets`` when the source is added and
only read back by the sync; everything a person sees (``to_json``) carries the redacted hint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from policies.wire import format_time
from service import audit
from service.errors import Conflict, InvalidRequest, NotFound
from service.locale import N_
from service.models import School, TimetableSecret, TimetableSource
from service.settings import Settings
from service.timetable import PRESETS, Plan
from service.timetable_store import secretbox, store
from service.timetable_store.inputs import KINDS, mapping_of

FETCHED = ("ical_url", "zermelo")
DEFAULT_INTERVAL = 3600
DEFAULT_DAYS_AHEAD = 56
MAX_DAYS_AHEAD = 390
MAX_NAME = 100


def check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise InvalidRequest("a source name is 1 to %(limit)s printable characters", limit=MAX_NAME)
    return name


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """An https URL (``webcal://`` is read as https); http only to this machine.

    The URL or the request carries a token, which plain http would show to the network.
    """
    url = url.strip()
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidRequest("the %(what)s holds spaces or control characters", what=what)
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRequest("the %(what)s must be an https:// URL", what=what)
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidRequest("the %(what)s must use https: it carries a secret token", what=what)
    if len(url) > 4000:
        raise InvalidRequest("the %(what)s is longer than 4000 characters", what=what)
    return url


def _options(kind: str, days_ahead: int | None, params: Mapping[str, str]) -> dict[str, Any]:
    days = DEFAULT_DAYS_AHEAD if days_ahead is None else days_ahead
    if not 1 <= days <= MAX_DAYS_AHEAD:
        raise InvalidRequest("days ahead must be from 1 to %(limit)s", limit=MAX_DAYS_AHEAD)
    if params and kind != "zermelo":
        raise InvalidRequest("query parameters are for Zermelo sources only")
    for key in params:
        if key in ("start", "end", "access_token") or not key.isidentifier():
            raise InvalidRequest("query parameter %(key)r cannot be set", key=key[:40])
    return {"days_ahead": days, "params": dict(params)}


def add_source(
    session: Session,
    *,
    school: School,
    settings: Settings,
    name: str,
    kind: str,
    now: datetime,
    secret: str | None = None,
    portal: str | None = None,
    mapping: str | None = None,
    default_group: str | None = None,
    interval_seconds: int = DEFAULT_INTERVAL,
    days_ahead: int | None = None,
    params: Mapping[str, str] | None = None,
    actor: str = "cli",
) -> TimetableSource:
    """Add a source; a fetched one needs its secret (the feed URL, or the Zermelo token)."""
    name = check_name(name)
    if kind not in KINDS:
        raise InvalidRequest("kind must be one of %(choices)s", choices=", ".join(KINDS))
    if find(session, school=school, name=name) is not None:
        raise Conflict("there is already a source %(name)r", name=name)
    if not 0 <= interval_seconds <= 7 * 86400:
        raise InvalidRequest("the sync interval must be from 0 (by hand only) to one week")
    if interval_seconds and interval_seconds < 300:
        raise InvalidRequest("the sync interval is at least 5 minutes (or 0: by hand only)")
    mapping_of(mapping, name=f"{name} mapping")
    options = _options(kind, days_ahead, params or {})
    hint = None
    if kind == "ical_url":
        secret = check_url(secret or "", N_("feed URL"))
        hint = secretbox.hint(secret)
    elif kind == "zermelo":
        options["portal"] = check_url(portal or "", N_("Zermelo portal URL")).rstrip("/")
        if not secret or not secret.strip() or len(secret) > 500 or not secret.isprintable():
            raise InvalidRequest("the Zermelo token is 1 to 500 printable characters")
        secret = secret.strip()
        hint = f"{secretbox.hint(options['portal'])} (token hidden)"
    elif secret is not None:
        raise InvalidRequest("a %(kind)s source has no secret", kind=kind)
    row = TimetableSource(
        school_id=school.id,
        name=name,
        kind=kind,
        mapping=mapping,
        default_group=default_group,
        options=options,
        interval_seconds=interval_seconds if kind in FETCHED else 0,
        secret_hint=hint[:200] if hint else None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    if secret is not None:
        session.add(TimetableSecret(source_id=row.id, ciphertext=secretbox.seal(settings, secret)))
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="timetable.source_add",
        obj=f"source:{name}",
        now=now,
        reason=f"{kind} {hint or ''}".strip(),
    )
    return row


def find(session: Session, *, school: School, name: str) -> TimetableSource | None:
    return session.scalar(
        select(TimetableSource).where(
            TimetableSource.school_id == school.id, TimetableSource.name == name
        )
    )


def get(session: Session, *, school: School, name: str) -> TimetableSource:
    found = find(session, school=school, name=name)
    if found is None:
        raise NotFound("no source %(name)r", name=name[:100])
    return found


def list_sources(session: Session, *, school: School) -> list[TimetableSource]:
    query = select(TimetableSource).where(TimetableSource.school_id == school.id)
    return list(session.scalars(query.order_by(TimetableSource.name)))


def secret_of(session: Session, settings: Settings, source: TimetableSource) -> str:
    row = session.get(TimetableSecret, source.id)
    if row is None:
        raise InvalidRequest("source %(name)r has no stored secret; add it again", name=source.name)
    return secretbox.unseal(settings, row.ciphertext, source=source.name)


def is_due(source: TimetableSource, now: datetime) -> bool:
    """A fetched source syncs when its interval has passed since the last attempt."""
    if source.kind not in FETCHED or not source.interval_seconds:
        return False
    last = source.last_sync_at
    return last is None or now >= last + timedelta(seconds=source.interval_seconds)


def claim(session: Session, *, source_id: int, now: datetime, hold: timedelta) -> bool:
    """Take the source for one sync; False when another process holds it (compare-and-set)."""
    result = session.execute(
        update(TimetableSource)
        .where(
            TimetableSource.id == source_id,
            or_(TimetableSource.claimed_until.is_(None), TimetableSource.claimed_until <= now),
        )
        .values(claimed_until=now + hold),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def to_json(source: TimetableSource) -> dict[str, Any]:
    """What may be shown of a source: never the secret, only its hint."""
    mapping = source.mapping if source.mapping is None or source.mapping in PRESETS else "custom"
    return {
        "name": source.name,
        "kind": source.kind,
        "location": source.secret_hint,
        "mapping": mapping,
        "default_group": source.default_group,
        "interval_seconds": source.interval_seconds,
        "days_ahead": source.options.get("days_ahead"),
        "params": source.options.get("params", {}),
        "last_sync_at": format_time(source.last_sync_at) if source.last_sync_at else None,
        "last_result": source.last_result,
        "last_counts": source.last_counts,
        "last_error": source.last_error,
    }


def remove_source(
    session: Session, *, school: School, name: str, now: datetime, actor: str = "cli"
) -> store.Applied:
    """Remove a source and its lessons still to come; lessons that are over stay as history."""
    row = get(session, school=school, name=name)
    stored = store.load(session, school=school, source=row.name)
    coming = tuple(o for o in stored.occurrences if o.end > now)
    plan = Plan(
        inserts=(),
        updates=(),
        cancellations=(),
        removals=coming,
        unchanged=0,
        frozen=len(stored.occurrences) - len(coming),
    )
    applied = store.apply(
        session, school=school, plan=plan, stored=stored, now=now, actor=actor, source=row.name
    )
    secret = session.get(TimetableSecret, row.id)
    if secret is not None:
        session.delete(secret)
    session.flush()
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="timetable.source_remove",
        obj=f"source:{name[:100]}",
        now=now,
    )
    return applied
