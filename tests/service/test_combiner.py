"""The combiner behind group commit: concurrent jobs run together, each caller gets its own
outcome, and neither a failing job nor a cancelled caller strands the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.ingest.combiner import Combiner


class Recorder:
    """A group runner that records each group it ran (on a worker thread) and can be held."""

    def __init__(self, fail_on: frozenset[int] = frozenset()) -> None:
        self.groups: list[list[int]] = []
        self.threads: set[int] = set()
        self.release = threading.Event()
        self.release.set()
        self.fail_on = fail_on

    def __call__(self, jobs: Sequence[int]) -> list[int | BaseException]:
        self.release.wait(timeout=10)
        self.groups.append(list(jobs))
        self.threads.add(threading.get_ident())
        return [ValueError(f"job {j}") if j in self.fail_on else j * 10 for j in jobs]


async def _submit_all(combiner: Combiner[int, int], jobs: Sequence[int]) -> list[object]:
    return await asyncio.gather(*(combiner.submit(j) for j in jobs), return_exceptions=True)


def test_jobs_arriving_while_a_group_runs_go_together_in_the_next() -> None:
    """The first job runs alone at once; the jobs queued meanwhile run as one group after it."""
    recorder = Recorder()
    recorder.release.clear()
    combiner: Combiner[int, int] = Combiner(recorder, max_weight=100)

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(combiner.submit(1))
        await asyncio.sleep(0)  # the first group starts and waits for release
        rest = [asyncio.ensure_future(combiner.submit(j)) for j in range(2, 9)]
        await asyncio.sleep(0)
        assert combiner.waiting == 7
        recorder.release.set()
        return [await first] + [await r for r in rest]

    results = asyncio.run(scenario())
    assert results == [j * 10 for j in range(1, 9)]
    assert recorder.groups == [[1], list(range(2, 9))]
    assert threading.get_ident() not in recorder.threads, "groups run on a worker thread"
    assert (combiner.groups, combiner.jobs) == (2, 8)


def test_a_failing_job_fails_alone() -> None:
    """A job whose outcome is an exception raises it in its own caller only."""
    combiner: Combiner[int, int] = Combiner(Recorder(fail_on={3}), max_weight=100)
    results = asyncio.run(_submit_all(combiner, [1, 2, 3, 4]))
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError) and str(results[2]) == "job 3"


def test_a_runner_that_raises_fails_its_whole_group_and_the_next_group_still_runs() -> None:
    """If the runner itself raises, every caller of that group gets the error; later jobs run."""
    calls: list[list[int]] = []
    release = threading.Event()

    def runner(jobs: Sequence[int]) -> list[int | BaseException]:
        release.wait(timeout=10)
        calls.append(list(jobs))
        if 2 in jobs:
            raise RuntimeError("database gone")
        return list(jobs)

    combiner: Combiner[int, int] = Combiner(runner, max_weight=100)

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(combiner.submit(1))
        await asyncio.sleep(0)
        second = [asyncio.ensure_future(combiner.submit(j)) for j in (2, 3)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(first, *second, return_exceptions=True)
        return [*results, await combiner.submit(7)]

    results = asyncio.run(scenario())
    assert results[0] == 1 and results[3] == 7
    assert all(isinstance(r, RuntimeError) for r in results[1:3])
    assert calls == [[1], [2, 3], [7]]


def test_a_cancelled_caller_does_not_strand_the_others() -> None:
    """A caller that goes away while its group runs (a client hanging up) leaves the rest
    answered, and a job cancelled before its group started is not run at all."""
    recorder = Recorder()
    recorder.release.clear()
    combiner: Combiner[int, int] = Combiner(recorder, max_weight=100)

    async def scenario() -> list[object]:
        leader = asyncio.ensure_future(combiner.submit(1))
        await asyncio.sleep(0)
        queued = [asyncio.ensure_future(combiner.submit(j)) for j in (2, 3, 4)]
        await asyncio.sleep(0)
        leader.cancel()
        queued[1].cancel()
        await asyncio.sleep(0)
        recorder.release.set()
        return await asyncio.gather(*queued, return_exceptions=True)

    results = asyncio.run(scenario())
    assert results[0] == 20 and results[2] == 40
    assert isinstance(results[1], asyncio.CancelledError)
    assert recorder.groups == [[1], [2, 4]]


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=40),
    max_weight=st.integers(min_value=1, max_value=100),
)
def test_groups_keep_order_and_stay_within_their_weight(
    weights: list[int], max_weight: int
) -> None:
    """Every job runs once, in arrival order; a group over the limit holds one job only."""
    recorder = Recorder()
    recorder.release.clear()
    combiner: Combiner[int, int] = Combiner(
        recorder, max_weight=max_weight, weight=lambda j: weights[j]
    )

    async def scenario() -> list[object]:
        tasks = [asyncio.ensure_future(combiner.submit(j)) for j in range(len(weights))]
        await asyncio.sleep(0)
        recorder.release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(scenario()) == [j * 10 for j in range(len(weights))]
    assert [j for group in recorder.groups for j in group] == list(range(len(weights)))
    for group in recorder.groups:
        assert len(group) == 1 or sum(weights[j] for j in group) <= max_weight


@pytest.mark.parametrize("count", [1, 50])
def test_results_reach_the_right_callers(count: int) -> None:
    """Under many concurrent callers each one gets the outcome of its own job."""
    combiner: Combiner[int, int] = Combiner(Recorder(), max_weight=7)
    assert asyncio.run(_submit_all(combiner, list(range(count)))) == [j * 10 for j in range(count)]
