"""The sync plan: re-imports update by key, cancel, remove, and never touch history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.timetable import ImportResult, Occurrence, apply_plan, plan_sync, preview, school_year
from tests.timetable.helpers import AMSTERDAM

YEAR = school_year(date(2025, 9, 1), AMSTERDAM)
NOW = datetime(2025, 11, 1, tzinfo=UTC)


def lesson(uid: str, day: int, **change: object) -> Occurrence:
    start = datetime(2025, 9, 1, 6, 30, tzinfo=UTC) + timedelta(days=day)
    base = Occurrence(
        source="ics",
        uid=uid,
        recurrence_id="",
        start=start,
        end=start + timedelta(minutes=50),
        subject="wi",
        group="3B",
    )
    return replace(base, **change)  # type: ignore[arg-type]


def imported(*occurrences: Occurrence) -> ImportResult:
    return ImportResult(source="ics", window=YEAR, occurrences=occurrences)


FUTURE = 90  # days after 1 Sept: after NOW


@pytest.mark.parametrize(
    ("stored", "fresh", "expected"),
    [
        # nothing stored: everything is new
        ([], [lesson("a", FUTURE)], (1, 0, 0, 0, 0, 0)),
        # the same again: unchanged
        ([lesson("a", FUTURE)], [lesson("a", FUTURE)], (0, 0, 0, 0, 1, 0)),
        # moved to another day: an update, not a removal plus an insert
        ([lesson("a", FUTURE)], [lesson("a", FUTURE + 1)], (0, 1, 0, 0, 0, 0)),
        # substitute teacher: an update
        ([lesson("a", FUTURE)], [lesson("a", FUTURE, teacher="vdb")], (0, 1, 0, 0, 0, 0)),
        # the source cancels it: a cancellation
        ([lesson("a", FUTURE)], [lesson("a", FUTURE, cancelled=True)], (0, 0, 1, 0, 0, 0)),
        # reinstated: an update
        ([lesson("a", FUTURE, cancelled=True)], [lesson("a", FUTURE)], (0, 1, 0, 0, 0, 0)),
        # gone from the source: removed
        ([lesson("a", FUTURE)], [], (0, 0, 0, 1, 0, 0)),
        # history is frozen: a past lesson is neither changed nor removed nor added
        ([lesson("a", 10)], [lesson("a", 11)], (0, 0, 0, 0, 0, 1)),
        ([lesson("a", 10)], [], (0, 0, 0, 0, 0, 1)),
        ([], [lesson("a", 10)], (0, 0, 0, 0, 0, 1)),
        # other sources and other years are not this import's business
        ([lesson("a", FUTURE, source="csv")], [], (0, 0, 0, 0, 0, 0)),
        ([lesson("a", -60)], [], (0, 0, 0, 0, 0, 0)),
        # the key includes RECURRENCE-ID
        (
            [lesson("a", FUTURE, recurrence_id="20251130T063000Z")],
            [lesson("a", FUTURE, recurrence_id="20251201T063000Z")],
            (1, 0, 0, 1, 0, 0),
        ),
    ],
)
def test_plan(stored, fresh, expected) -> None:  # type: ignore[no-untyped-def]
    """Inserts, updates, cancellations, removals, unchanged and frozen, per case."""
    plan = plan_sync(stored, imported(*fresh), now=NOW)
    got = (
        len(plan.inserts),
        len(plan.updates),
        len(plan.cancellations),
        len(plan.removals),
        plan.unchanged,
        plan.frozen,
    )
    assert got == expected


def test_duplicate_keys_are_refused() -> None:
    """A plan over data with a key twice would be ambiguous; it is refused."""
    with pytest.raises(ValueError, match="twice"):
        plan_sync([], imported(lesson("a", FUTURE), lesson("a", FUTURE + 1)), now=NOW)


def test_preview_shows_the_plan() -> None:
    """The preview counts the plan and shows examples of each change in UTC."""
    stored = [lesson("a", FUTURE), lesson("b", FUTURE)]
    fresh = imported(lesson("a", FUTURE, cancelled=True), lesson("c", FUTURE, group=None))
    shown = preview(fresh, plan_sync(stored, fresh, now=NOW))
    assert shown["lessons"] == 2 and shown["cancelled"] == 1 and shown["without_group"] == 1
    assert shown["groups"] == {"3B": 1}
    plan = shown["plan"]
    assert (plan["inserts"], plan["cancellations"], plan["removals"]) == (1, 1, 1)
    assert plan["examples"]["removals"][0]["uid"] == "b"
    assert plan["examples"]["cancellations"][0]["after"]["start"] == "2025-11-30T06:30:00Z"


keys = st.sampled_from(["a", "b", "c", "d", "e", "f"])
days = st.integers(-80, 360)
occurrence = st.builds(
    lambda uid, day, teacher, cancelled: lesson(uid, day, teacher=teacher, cancelled=cancelled),
    keys,
    days,
    st.sampled_from([None, "jdv", "vdb"]),
    st.booleans(),
)


def unique(items: list[Occurrence]) -> list[Occurrence]:
    return list({o.key: o for o in items}.values())


def expected_after(stored: list[Occurrence], fresh: list[Occurrence]) -> dict:  # type: ignore[type-arg]
    """The rule, key by key, written out plainly as the test's oracle."""
    old = {o.key: o for o in stored}
    new = {o.key: o for o in fresh}
    result = dict(old)
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before is not None and before.end <= NOW:
            continue  # history
        if after is not None:
            if before is not None or after.end > NOW:
                result[key] = after
        elif before is not None and YEAR.overlaps(before.start, before.end):
            del result[key]
    return result


@settings(max_examples=300)
@given(st.lists(occurrence, max_size=6).map(unique), st.lists(occurrence, max_size=6).map(unique))
def test_applying_the_plan_follows_the_rule(stored, fresh) -> None:  # type: ignore[no-untyped-def]
    """Applying the plan gives what the rule says for every key, and a re-sync does nothing."""
    plan = plan_sync(stored, imported(*fresh), now=NOW)
    after = apply_plan(stored, plan)
    assert {o.key: o for o in after} == expected_after(stored, fresh)
    assert plan_sync(after, imported(*fresh), now=NOW).empty
