"""The device-token cache: entries live ``ttl`` seconds, the cache stays within its size, a look-up
that raced a change does not store it, and changes made in this process empty entries at once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from service.devices import registry as devices
from service.devices.registry import ActiveDevice
from service.devices.token_cache import TokenCache, watch
from service.models import Device
from service.schools import registry as schools
from tests.support.clock import FakeClock, utc
from tests.support.collector import World, enrol, retire


class Ticks:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def device(n: int) -> ActiveDevice:
    return ActiveDevice(f"d_{n}", 1, 1)


def fill(cache: TokenCache, *keys: int) -> None:
    for k in keys:
        assert cache.put(f"k{k}", device(k), generation=cache.generation())


@pytest.mark.parametrize(
    ("ttl", "after", "hit"),
    [
        (10.0, 0.0, True),
        (10.0, 9.99, True),
        # the bound: at ttl seconds the entry is gone, so the database is asked again
        (10.0, 10.0, False),
        (10.0, 60.0, False),
        (0.5, 0.49, True),
        (0.5, 0.5, False),
    ],
)
def test_an_entry_lives_ttl_seconds(ttl: float, after: float, hit: bool) -> None:
    """A device named by the database is served from memory for less than ttl seconds, no longer."""
    ticks = Ticks()
    cache = TokenCache(monotonic=ticks, ttl=ttl)
    fill(cache, 1)
    ticks.now += after
    assert (cache.get("k1") == device(1)) is hit
    assert len(cache) == (1 if hit else 0)


def test_the_least_recently_used_entry_goes_first() -> None:
    """Over max_entries the entry used longest ago is dropped; a hit counts as a use."""
    cache = TokenCache(monotonic=Ticks(), max_entries=3)
    fill(cache, 1, 2, 3)
    assert cache.get("k1") == device(1)
    fill(cache, 4)
    assert [cache.get(f"k{k}") for k in (1, 2, 3, 4)] == [device(1), None, device(3), device(4)]
    assert len(cache) == 3


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.integers(0, 12)),
            st.tuples(st.just("get"), st.integers(0, 12)),
            st.tuples(st.just("wait"), st.floats(0, 6)),
            st.tuples(st.just("forget"), st.integers(0, 12)),
        ),
        max_size=80,
    ),
    max_entries=st.integers(1, 6),
)
def test_cache_agrees_with_a_model_and_stays_bounded(
    ops: list[tuple[str, float]], max_entries: int
) -> None:
    """Any sequence of puts, gets, waits and invalidations: the cache answers like a plain LRU
    dictionary with expiry, and never holds more than max_entries."""
    ticks = Ticks()
    cache = TokenCache(monotonic=ticks, ttl=5.0, max_entries=max_entries)
    model: OrderedDict[str, tuple[ActiveDevice, float]] = OrderedDict()
    for op, arg in ops:
        key = f"k{int(arg)}"
        if op == "put":
            fill(cache, int(arg))
            model[key] = (device(int(arg)), ticks.now + 5.0)
            model.move_to_end(key)
            while len(model) > max_entries:
                model.popitem(last=False)
        elif op == "get":
            expected = None
            if key in model and model[key][1] > ticks.now:
                expected = model[key][0]
                model.move_to_end(key)
            elif key in model:
                del model[key]
            assert cache.get(key) == expected
        elif op == "wait":
            ticks.now += arg
        else:
            cache.invalidate([device(int(arg)).id])
            model.pop(key, None)
        assert len(cache) <= max_entries


def test_a_look_up_that_raced_a_change_is_not_stored() -> None:
    """A look-up that began before a device changed does not store what it read."""
    cache = TokenCache(monotonic=Ticks())
    began = cache.generation()
    cache.invalidate([device(1).id])
    assert not cache.put("k1", device(1), generation=began)
    assert cache.get("k1") is None
    assert cache.put("k1", device(1), generation=cache.generation())


def test_invalidating_one_device_keeps_the_others() -> None:
    """Forgetting a device drops its entries only; forgetting all drops every entry."""
    cache = TokenCache(monotonic=Ticks())
    fill(cache, 1, 2, 3)
    cache.invalidate([device(2).id])
    assert [cache.get(f"k{k}") is not None for k in (1, 2, 3)] == [True, False, True]
    cache.invalidate()
    assert len(cache) == 0


# --- changes made through sessions of this process ------------------------------------------


@pytest.fixture
def cached(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> tuple[TokenCache, str, ActiveDevice]:
    """A watched cache holding one real enrolled device, looked up as the collector does."""
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
    cache = TokenCache(monotonic=Ticks())
    watch(cache)
    key = devices.token_key(token)
    began = cache.generation()
    with sessions.begin() as session:
        found = devices.active_devices(session, [key], clock())
    assert cache.put(key, found[key], generation=began)
    return cache, key, found[key]


def _retire(session: Session, active: ActiveDevice, now: datetime) -> None:
    retire(session, active.id, now)


def _move_to_4a(session: Session, active: ActiveDevice, _now: datetime) -> None:
    other = schools.find_group(session, schools.school(session), "4A")
    assert other is not None
    session.get_one(Device, active.id).group_id = other.id


def _erase(session: Session, active: ActiveDevice, _now: datetime) -> None:
    session.delete(session.get_one(Device, active.id))


def _bulk_update(session: Session, _active: ActiveDevice, _now: datetime) -> None:
    # Which rows a bulk update touched is not known: every entry goes.
    session.execute(update(Device).values(label="x"))


@pytest.mark.parametrize(
    "change",
    [_retire, _move_to_4a, _erase, _bulk_update],
    ids=["retire", "move-to-another-group", "erase", "bulk-update"],
)
def test_a_change_committed_in_this_process_empties_the_entry_at_once(
    sessions: sessionmaker[Session],
    cached: tuple[TokenCache, str, ActiveDevice],
    clock: FakeClock,
    change: Callable[[Session, ActiveDevice, datetime], None],
) -> None:
    """Retiring, moving or erasing a device through any session of this process (the web
    pages', the command line's functions, a test's) is seen by the cache when it commits."""
    cache, key, active = cached
    with sessions.begin() as session:
        change(session, active, clock())
        session.flush()
        assert cache.get(key) == active, "not before the change is committed"
    assert cache.get(key) is None


def test_a_rolled_back_change_and_last_seen_keep_the_entry(
    sessions: sessionmaker[Session], cached: tuple[TokenCache, str, ActiveDevice], clock: FakeClock
) -> None:
    """Nothing changed for a rollback, nor for last_seen bookkeeping: the entry stays."""
    cache, key, active = cached
    with pytest.raises(RuntimeError), sessions.begin() as session:
        session.get_one(Device, active.id).retired = True
        session.flush()
        raise RuntimeError("the admin's action failed")
    with sessions.begin() as session:
        row = session.get_one(Device, active.id)
        devices.touch(session, row, clock() + timedelta(days=1))
    assert cache.get(key) == active
    with sessions.begin() as session:
        assert session.get_one(Device, active.id).last_seen == utc(23)  # the next day began
