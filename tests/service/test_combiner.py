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


class Here:
    """Runs groups on the event loop itself when ``take`` says so (records the thread too)."""

    def __init__(self, take: bool) -> None:
        self.take = take
        self.groups: list[list[int]] = []
        self.threads: set[int] = set()

    def __call__(self, jobs: Sequence[int]) -> list[int | BaseException] | None:
        self.threads.add(threading.get_ident())
        if not self.take:
            return None
        self.groups.append(list(jobs))
        return [ValueError("seven") if j == 7 else j * 10 for j in jobs]


def test_with_here_jobs_submitted_in_one_turn_of_the_loop_go_in_one_group() -> None:
    """Requests whose bytes arrived together reach ``submit`` in one turn: with ``here`` the
    group waits for the turn's end and holds them all; without, the first starts at once."""
    here = Here(take=True)
    combiner: Combiner[int, int] = Combiner(Recorder(), max_weight=100, here=here, here_weight=9)
    assert asyncio.run(_submit_all(combiner, [1, 2, 3, 4, 5])) == [10, 20, 30, 40, 50]
    assert here.groups == [[1, 2, 3, 4, 5]]
    recorder = Recorder()
    combiner = Combiner(recorder, max_weight=100)
    assert asyncio.run(_submit_all(combiner, [1, 2, 3, 4, 5])) == [10, 20, 30, 40, 50]
    assert recorder.groups[0] == [1]


def test_a_small_group_runs_on_the_loop_when_here_takes_it() -> None:
    """``here`` runs the group on the event loop's own thread; no worker thread is used, and
    each caller still gets its own outcome (an exception only for its job)."""
    recorder, here = Recorder(), Here(take=True)
    combiner: Combiner[int, int] = Combiner(recorder, max_weight=100, here=here, here_weight=4)
    results = asyncio.run(_submit_all(combiner, [1, 7, 3]))
    assert results[0] == 10 and results[2] == 30 and isinstance(results[1], ValueError)
    assert here.groups == [[1, 7, 3]] and recorder.groups == []
    assert here.threads == {threading.get_ident()}
    assert (combiner.groups, combiner.groups_here) == (1, 1)


def test_a_group_here_declines_or_too_heavy_for_the_loop_goes_to_a_worker_thread() -> None:
    """``here`` returning None hands the same group to the worker thread; a group over
    ``here_weight`` is never offered to the loop."""
    declined, recorder = Here(take=False), Recorder()
    combiner: Combiner[int, int] = Combiner(recorder, max_weight=100, here=declined, here_weight=4)
    assert asyncio.run(_submit_all(combiner, [1, 2])) == [10, 20]
    assert recorder.groups == [[1, 2]] and declined.threads == {threading.get_ident()}
    assert threading.get_ident() not in recorder.threads

    taker, recorder = Here(take=True), Recorder()
    combiner = Combiner(recorder, max_weight=100, here=taker, here_weight=4)
    assert asyncio.run(_submit_all(combiner, [1, 2, 3, 4, 5])) == [10, 20, 30, 40, 50]
    assert recorder.groups == [[1, 2, 3, 4, 5]] and taker.groups == []


def test_jobs_left_over_a_group_on_the_loop_run_in_the_next_group() -> None:
    """A group on the loop holds at most ``max_weight``; the jobs past it run next, in order."""
    here = Here(take=True)
    combiner: Combiner[int, int] = Combiner(Recorder(), max_weight=2, here=here, here_weight=2)
    assert asyncio.run(_submit_all(combiner, [1, 2, 3, 4, 5])) == [10, 20, 30, 40, 50]
    assert here.groups == [[1, 2], [3, 4], [5]]
