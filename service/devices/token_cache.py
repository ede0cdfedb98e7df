"""Device tokens checked recently, kept in process memory for a few seconds.

Without it every report request looked its token up in the database in a transaction of its
own. The cache maps a token's hash (never the token) to the device behind it, for ``ttl``
seconds after the database said so, in at most ``max_entries`` entries (least recently used
first out). Only answers the database gave are cached: an unknown, revoked or malformed token
is never an entry, so a flood of wrong tokens cannot push good entries out (each costs a share
of a combined look-up instead, see ``service.intake``). There is no negative cache: an agent
stops sending after its 401 and made-up tokens differ every time, so it would spare nothing. Nor
is the TTL jittered (Fleet jitters its 60 s by 10% against synchronised expiry): entries that
expire together are looked up again together, in one combined query.

How fast a change to a device is seen:

- in the process that made it, at once: every ORM change to a ``Device`` (retire, move to
  another group, erase) committed through any session of this process empties its entries
  (``watch``), and a look-up that was already under way when the change committed does not
  store what it read (the generation check in ``put``);
- in other processes (another collector, the ``lessonwatch-service`` command), within ``ttl``
  seconds: they do not share memory, and the database is the only thing they share.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from service.devices.registry import ActiveDevice
from service.models import Device

TTL_SECONDS = 10.0
MAX_ENTRIES = 16_384


@dataclass(frozen=True)
class Entry:
    device: ActiveDevice
    expires: float  # monotonic seconds


class TokenCache:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._monotonic = monotonic
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> ActiveDevice | None:
        """The device for this token hash if the database named it less than ``ttl`` ago."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= self._monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.device

    def generation(self) -> int:
        """Read before a database look-up and hand to ``put`` afterwards."""
        with self._lock:
            return self._generation

    def put(self, key: str, device: ActiveDevice, *, generation: int) -> bool:
        """Keep what a look-up read, unless a device changed since it began (it may be stale)."""
        with self._lock:
            if generation != self._generation:
                return False
            self._entries[key] = Entry(device, self._monotonic() + self._ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            return True

    def invalidate(self, device_ids: Iterable[str] | None = None) -> None:
        """Forget these devices (None: every device), and refuse look-ups already under way."""
        with self._lock:
            self._generation += 1
            if device_ids is None:
                self._entries.clear()
                return
            gone = set(device_ids)
            for key in [k for k, e in self._entries.items() if e.device.id in gone]:
                del self._entries[key]


# --- invalidation within the process ----------------------------------------------------------

_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()
_watching = False
_watch_lock = threading.Lock()
_NOTED = "lessonwatch.devices_changed"  # key in Session.info: device ids, or "all"


def watch(cache: TokenCache) -> None:
    """Empty ``cache``'s entries of every device a session of this process changes."""
    global _watching
    with _watch_lock:
        _caches.add(cache)
        if _watching:
            return
        # Session-class events: every session of the process, whichever engine it is bound to
        # (the web pages, the command line's functions, tests' own sessions).
        event.listen(Session, "after_flush", _note_flushed)
        event.listen(Session, "do_orm_execute", _note_bulk)
        event.listen(Session, "after_commit", _invalidate_noted)
        event.listen(Session, "after_transaction_end", _forget_noted)
        _watching = True


def _noted(session: Session) -> set[str] | str:
    value: set[str] | str = session.info.setdefault(_NOTED, set())
    return value


def _note_flushed(session: Session, _flush: UOWTransaction) -> None:
    changed = {obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, Device)}
    noted = _noted(session)
    if changed and isinstance(noted, set):
        noted.update(changed)


def _note_bulk(state: ORMExecuteState) -> None:
    # update(Device) / delete(Device) through a session: which rows is not known, so all.
    if (state.is_update or state.is_delete) and any(m.class_ is Device for m in state.all_mappers):
        state.session.info[_NOTED] = "all"


def _invalidate_noted(session: Session) -> None:
    noted = session.info.pop(_NOTED, None)
    if not noted:
        return
    for cache in list(_caches):
        cache.invalidate(None if noted == "all" else noted)


def _forget_noted(session: Session, transaction: SessionTransaction) -> None:
    # A rolled-back transaction changed nothing; after a commit the set is already gone.
    if transaction.parent is None:
        session.info.pop(_NOTED, None)
