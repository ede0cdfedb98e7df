"""The running agent on a fake clock and fake timers: lessons start and end, timetables change,
laptops sleep, clocks are set and daylight saving changes, without waiting for any of it.

The collector is a fake at the client boundary and the probe a fake that sees the apps a test
names; tests/agent/test_real_collector.py runs the real agent process against the real
collector in real time. Times are Amsterdam times, the demo school's zone.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent import summary
from agent.cli import main as agent_main
from agent.config import Lesson, Overrides
from agent.outbox import Outbox
from agent.paths import StatePaths
from agent.schedule import CONTACT_LEAD, CONTACT_TAIL
from policies.wire import parse_summary
from tests.agent.fakes import AMS, Rig, ams, make_rig

TUESDAY = date(2026, 11, 24)
MINUTE = timedelta(minutes=1)
FIRST = Lesson("l_1", ams(TUESDAY, "0830"), ams(TUESDAY, "0920"))
SECOND = Lesson("l_2", ams(TUESDAY, "1030"), ams(TUESDAY, "1120"))
SPREAD = timedelta(seconds=60)  # half the policy's 120 s upload spread: the rigs' rand is 0.5


@pytest.fixture
def rig_at(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """Starts agents on fake clocks (``make_rig``); shuts down those still running at the end."""
    made: list[Rig] = []

    def make(now: datetime, lessons: list[Lesson], **kw: Any) -> Rig:
        kw.setdefault("state_dir", tmp_path / f"state-{len(made)}")
        rig = make_rig(now=now, lessons=lessons, **kw)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        if not rig.agent.stopping.is_set():
            rig.agent.shutdown()


def families(report: dict) -> dict[str, float]:
    return {f["family"]: f["seconds"] for f in report["findings"]}


# -- lesson start and end ------------------------------------------------------------------


def test_a_lesson_is_monitored_from_its_start_to_its_end_and_sent_after_it(rig_at) -> None:
    """Nothing is sampled before the start; at the start monitoring begins, at the end it
    stops and the summary leaves after the upload spread, exactly once."""
    rig = rig_at(ams(TUESDAY, "0800"), [FIRST, SECOND])
    rig.running.append("telegram-desktop")
    rig.until(FIRST.start - MINUTE)
    assert rig.agent.active is None and "sample" not in rig.scheduler.names()
    rig.until(FIRST.start)
    assert rig.agent.active == FIRST and "sample" in rig.scheduler.names()
    rig.until(FIRST.end)
    assert rig.agent.active is None and "sample" not in rig.scheduler.names()
    assert rig.collector.received == []  # not before the spread
    rig.until(FIRST.end + SPREAD)
    (report,) = rig.reports_of("l_1")
    parse_summary(report)
    assert families(report) == {"telegram": 50 * 60}
    assert report["coverage"]["samples"] == 50
    assert not [at for at, job in rig.scheduler.ran if job == "sample" and at < FIRST.start]


def test_an_agent_started_late_in_a_lesson_monitors_the_rest_of_it(rig_at) -> None:
    """Switched on at 08:50 in the 08:30 lesson: monitored from 08:50 to its end."""
    rig = rig_at(ams(TUESDAY, "0850"), [FIRST])
    assert rig.agent.active == FIRST
    rig.until(FIRST.end + SPREAD)
    (report,) = rig.reports_of("l_1")
    assert report["coverage"]["samples"] == 30


def test_a_lesson_slept_through_is_not_monitored_after_it(rig_at) -> None:
    """The lid closed at 08:00 and opened at 09:30: the 08:30 lesson is not monitored late."""
    rig = rig_at(ams(TUESDAY, "0800"), [FIRST, SECOND])
    rig.jump(timedelta(minutes=90))
    assert rig.agent.active is None
    rig.until(SECOND.start - MINUTE)
    assert rig.reports_of("l_1") == [] and rig.agent.outbox.counts()["queued"] == 0
    rig.until(SECOND.start)
    assert rig.agent.active == SECOND


def test_sleep_and_resume_within_a_lesson_keeps_monitoring_it(rig_at) -> None:
    """Ten minutes asleep mid-lesson (the wall clock jumps, the monotonic one does not): the
    agent re-plans at once, goes on sampling, and the gap shows in the coverage."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.until(ams(TUESDAY, "0840"))
    rig.jump(timedelta(minutes=10))
    assert rig.agent.active == FIRST
    assert rig.scheduler.due("sample") is not None
    rig.until(FIRST.end + SPREAD)
    (report,) = rig.reports_of("l_1")
    assert report["coverage"]["samples"] == 40  # 50 minutes less the 10 asleep


def test_sleep_through_the_end_of_a_lesson_sends_what_was_seen(rig_at) -> None:
    """Asleep from 09:10 to 10:00: the lesson's summary ends at its end, and is sent."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST, SECOND])
    rig.running.append("Discord")
    rig.until(ams(TUESDAY, "0910"))
    rig.jump(timedelta(minutes=50))
    assert rig.agent.active is None
    rig.until(ams(TUESDAY, "1005"))
    (report,) = rig.reports_of("l_1")
    assert report["coverage"]["samples"] == 41  # 08:30 to 09:10, both included
    assert "discord" in families(report)


# -- the timetable changes -----------------------------------------------------------------


def test_a_lesson_lengthened_mid_lesson_is_monitored_to_its_new_end(rig_at) -> None:
    """The timetable moves the end 20 minutes later during the lesson: the next in-lesson
    poll (a minute) picks it up; the rest goes into a second summary (the report adds up)."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.until(ams(TUESDAY, "0900"))
    longer = replace(FIRST, end=FIRST.end + 20 * MINUTE)
    rig.collector.lessons = [longer]
    rig.until(ams(TUESDAY, "0902"))
    assert rig.agent.active == longer
    rig.until(longer.end + SPREAD)
    reports = rig.reports_of("l_1")
    assert len(reports) == 2
    assert sum(r["coverage"]["samples"] for r in reports) == 70


def test_a_lesson_moved_later_is_monitored_at_its_new_time(rig_at) -> None:
    """The 10:30 lesson moves to 13:00 before it starts: nothing at 10:30, monitoring at 13:00."""
    rig = rig_at(ams(TUESDAY, "0925"), [SECOND])
    moved = replace(SECOND, start=ams(TUESDAY, "1300"), end=ams(TUESDAY, "1350"))
    rig.collector.lessons = [moved]
    rig.until(ams(TUESDAY, "1031"))
    assert rig.agent.active is None
    rig.until(moved.start)
    assert rig.agent.active == moved


def test_a_lesson_cancelled_mid_lesson_stops_monitoring_and_sends_what_was_seen(rig_at) -> None:
    """Cancelled at 08:45: monitoring stops at the next poll. A cancelled lesson opens no
    contact window, and the day's contact was made: its summary leaves the next school
    morning."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.until(ams(TUESDAY, "0845"))
    rig.collector.lessons = [replace(FIRST, cancelled=True)]
    rig.until(ams(TUESDAY, "0847"))
    assert rig.agent.active is None and "sample" not in rig.scheduler.names()
    wednesday = ams(date(2026, 11, 25), "0700")
    rig.until(wednesday)
    (report,) = rig.reports_of("l_1")
    assert 15 <= report["coverage"]["samples"] <= 17
    assert rig.collector.times("reports") == [wednesday]


def test_a_cancelled_lesson_is_never_monitored_and_nothing_wakes_outside_lessons(rig_at) -> None:
    """Outside lessons only the boundary, the config poll and uploads are set: nothing
    periodic, and a cancelled lesson is skipped."""
    rig = rig_at(ams(TUESDAY, "0800"), [replace(FIRST, cancelled=True), SECOND])
    rig.until(ams(TUESDAY, "0900"))
    assert rig.agent.active is None
    assert rig.scheduler.names() <= {"boundary", "config", "upload"}
    assert not [job for _, job in rig.scheduler.ran if job == "sample"]


def test_a_permission_given_mid_lesson_counts_from_the_next_poll(rig_at) -> None:
    """A teacher allows social media at 08:50: Telegram counts until the poll after it."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.running.append("telegram-desktop")
    rig.until(ams(TUESDAY, "0850"))
    granted = ams(TUESDAY, "0850").isoformat().replace("+00:00", "Z")
    rig.collector.permissions = [
        {"lesson_id": "l_1", "categories": ["social_media"], "granted_at": granted}
    ]
    rig.until(FIRST.end + SPREAD)
    (report,) = rig.reports_of("l_1")
    assert 20 * 60 <= families(report)["telegram"] <= 22 * 60


# -- clocks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "set_by",
    [
        timedelta(hours=-1),  # set back: the monotonic clock kept time, so collector time goes on
        timedelta(minutes=2),  # set on a little: the poll it triggers measures the offset
    ],
)
def test_a_clock_set_by_hand_in_a_lesson_keeps_the_lesson(rig_at, set_by: timedelta) -> None:
    """A wall clock set by hand re-plans at once; the lesson goes on, on collector time."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.until(ams(TUESDAY, "0840"))
    rig.set_clock(set_by)
    assert (rig.clock.now, "replan") in rig.scheduler.ran
    assert rig.agent.active == FIRST
    rig.until(rig.clock.now + 2 * MINUTE)
    assert abs(rig.agent.now() - ams(TUESDAY, "0842")) < timedelta(seconds=3)
    assert rig.agent.active == FIRST


@pytest.mark.parametrize("set_by", [timedelta(hours=3), timedelta(days=2)])
def test_a_clock_set_forward_where_the_os_counts_sleep_keeps_the_lesson(
    rig_at, set_by: timedelta
) -> None:
    """Linux says how long the device slept (CLOCK_BOOTTIME): a clock set hours or days forward
    mid-lesson is no sleep, so the lesson goes on, on collector time, with no poll to measure
    the new offset (the collector is out of reach here, as it is outside a contact window)."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.clock.slept = 0.0
    rig.until(ams(TUESDAY, "0840"))
    rig.collector.down = True
    rig.set_clock(set_by)
    assert rig.agent.active == FIRST
    rig.until(rig.clock.now + 2 * MINUTE)
    assert abs(rig.agent.now() - ams(TUESDAY, "0842")) < timedelta(seconds=3)
    assert rig.agent.active == FIRST


def test_a_real_sleep_where_the_os_counts_it_is_still_a_sleep(rig_at) -> None:
    """The same OS, a real sleep through the lesson's end: the lesson is not monitored on."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.clock.slept = 0.0
    rig.until(ams(TUESDAY, "0840"))
    rig.jump(timedelta(minutes=90))
    assert rig.agent.active is None


def test_the_collector_clock_sets_lesson_times(rig_at) -> None:
    """The device clock is 30 minutes slow: the lesson starts on the collector's time."""
    rig = rig_at(ams(TUESDAY, "0745"), [FIRST], skew=timedelta(minutes=30))
    # The school day's first contact (07:45 by the device) measured the offset.
    assert abs(rig.agent.offset - timedelta(minutes=30)) < timedelta(seconds=3)
    rig.until(FIRST.start - timedelta(minutes=31))
    assert rig.agent.active is None
    rig.until(FIRST.start - timedelta(minutes=30))  # 08:30 collector time
    assert rig.agent.active == FIRST


def test_a_changed_collector_offset_moves_the_next_boundary(rig_at) -> None:
    """The offset measured at a poll changes from 0 to 5 minutes: the lesson's start timer
    moves 5 minutes earlier in device time."""
    rig = rig_at(ams(TUESDAY, "0805"), [FIRST])
    assert rig.scheduler.due("boundary") == FIRST.start
    rig.collector.skew = timedelta(minutes=5)
    rig.until(ams(TUESDAY, "0821"))  # the 08:20 idle poll
    due = rig.scheduler.due("boundary")
    # Within the Date header's resolution (a whole second, read as its middle).
    assert due is not None and abs(due - (FIRST.start - timedelta(minutes=5))) < timedelta(
        seconds=1
    )


def test_lessons_follow_utc_across_the_daylight_saving_change(rig_at) -> None:
    """Friday 23 October in CEST, Monday 26 October in CET: each 08:30 lesson is monitored
    at 08:30 Amsterdam time, and the Monday-morning contact is at 07:00 CET."""
    friday, monday = date(2026, 10, 23), date(2026, 10, 26)
    before = Lesson("l_f", ams(friday, "0830"), ams(friday, "0920"))
    after = Lesson("l_m", ams(monday, "0830"), ams(monday, "0920"))
    assert after.start - before.start == timedelta(days=3, hours=1)
    rig = rig_at(ams(friday, "0800"), [before, after])
    rig.until(before.start)
    assert rig.agent.active == before
    rig.until(after.start - MINUTE)
    assert rig.agent.active is None
    rig.until(after.start)
    assert rig.agent.active == after
    weekend = [at for at, _ in rig.collector.requests if before.end + 2 * CONTACT_TAIL < at]
    assert weekend and min(weekend) == ams(monday, "0700")


# -- jobs, shutdown, checkpoints ------------------------------------------------------------


def test_every_sample_is_checkpointed_so_a_crash_loses_at_most_one(rig_at) -> None:
    """After each sample the outbox's checkpoint holds every sample taken so far."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    for minute in ("0831", "0832", "0833"):
        rig.until(ams(TUESDAY, minute))
        checkpoint = rig.agent.outbox.running()
        assert rig.agent.state is not None and checkpoint is not None
        assert checkpoint["samples"] == rig.agent.state.samples


def test_shutdown_mid_lesson_commits_the_partial_summary(rig_at) -> None:
    """Stopping mid-lesson commits what was seen so far, to be sent after the lesson."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.running.append("telegram-desktop")
    rig.until(ams(TUESDAY, "0835"))
    rig.agent.shutdown()
    box = rig.agent.outbox
    assert box.counts()["queued"] == 1 and box.running() is None
    (row,) = box.due(FIRST.end + SPREAD)
    assert "telegram" in families(json.loads(row.body))
    assert box.due(ams(TUESDAY, "0836")) == []


class _Leaky:
    """Not an observation: the engine trips over it, with a raw name in the message."""

    @property
    def path(self) -> str:
        raise AttributeError("geheime-chat-van-sanne")


def test_a_failing_job_is_logged_by_class_and_the_agent_goes_on(
    rig_at, caplog: pytest.LogCaptureFixture
) -> None:
    """A sample that raises is logged without its message, and later jobs still run."""
    rig = rig_at(ams(TUESDAY, "0825"), [FIRST])
    rig.running.append(_Leaky())
    with caplog.at_level(logging.INFO):
        rig.until(ams(TUESDAY, "0832"))
    assert "job take_sample failed: AttributeError" in caplog.text
    assert "geheime-chat-van-sanne" not in caplog.text
    rig.running.clear()
    rig.until(FIRST.end + SPREAD)
    assert len(rig.reports_of("l_1")) == 1


def test_the_collector_down_through_the_lesson_the_summary_arrives_once(rig_at) -> None:
    """Down from before the lesson until after it: the summary is sent once it is back."""
    rig = rig_at(ams(TUESDAY, "0825"), [FIRST])
    rig.collector.down = True
    rig.until(FIRST.end + 5 * MINUTE)
    assert rig.agent.outbox.counts()["queued"] == 1 and rig.agent.uploader.attempt >= 1
    rig.collector.down = False
    rig.until(FIRST.end + 30 * MINUTE)
    assert len(rig.reports_of("l_1")) == 1 and rig.agent.outbox.counts()["queued"] == 0


def test_explain_shows_the_summary_exactly_as_sent(rig_at) -> None:
    """``explain`` shows pupils the last lesson's summary verbatim: the JSON the collector got, laid
    out one field a line."""
    rig = rig_at(ams(TUESDAY, "0830"), [FIRST])
    rig.running.append("Discord")
    rig.until(FIRST.end + SPREAD)
    (report,) = rig.reports_of("l_1")
    buffer = io.StringIO()
    state = str(rig.agent.paths.root)
    with contextlib.redirect_stdout(buffer):
        assert agent_main(["explain", "--state-dir", state, "--lang", "en"]) == 0
    heading = "  Exactly as sent (laid out for reading):\n"
    after = buffer.getvalue().split(heading, 1)[1].splitlines()
    verbatim = [line[4:] for line in itertools.takewhile(lambda x: x.startswith("    "), after)]
    assert json.loads("\n".join(verbatim)) == report


def test_wait_returns_on_stop(rig_at) -> None:
    """The agent's wall-clock wait ends promptly when it is told to stop (SIGTERM)."""
    rig = rig_at(ams(TUESDAY, "0800"), [FIRST])
    stopper = threading.Timer(0.05, rig.agent.stop)
    stopper.start()
    rig.agent.wait()
    stopper.join()
    assert rig.agent.stopping.is_set()


# -- quiet outside the school day (issue 15, point 3) -------------------------------------


def in_contact(rig: Rig, moment: datetime) -> bool:
    plan = rig.agent.plan
    assert plan is not None
    return any(start <= moment < end for start, end in plan.windows)


def test_no_contact_in_the_evening_night_or_weekend(rig_at) -> None:
    """Friday to Monday on a fake clock: every request is inside a contact window or is the
    one school-day morning contact; the summary queued at the end of Friday's last lesson
    leaves within the window; Saturday and Sunday see nothing at all."""
    friday, monday = date(2026, 11, 27), date(2026, 11, 30)
    lessons = [
        Lesson("l_f1", ams(friday, "0830"), ams(friday, "0920")),
        Lesson("l_f2", ams(friday, "1400"), ams(friday, "1450")),
        Lesson("l_m1", ams(monday, "1030"), ams(monday, "1120")),
    ]
    # A sample every 10 minutes: this test is about requests, not samples.
    rig = rig_at(ams(friday, "0630"), lessons, overrides=Overrides(sample_seconds=600))
    windows = [
        (ams(friday, "0830") - CONTACT_LEAD, ams(friday, "1450") + 2 * MINUTE + CONTACT_TAIL),
        (ams(monday, "1030") - CONTACT_LEAD, ams(monday, "1120") + 2 * MINUTE + CONTACT_TAIL),
    ]
    rig.until(ams(monday, "1800"))
    requests = rig.collector.requests
    assert requests
    outside = [at for at, _ in requests if not any(s <= at < e for s, e in windows)]
    # Outside the windows: the once-a-school-day morning contacts only (Friday, Monday 07:00).
    assert outside == [ams(friday, "0700"), ams(monday, "0700")]
    assert not [at for at, _ in requests if at.astimezone(AMS).weekday() >= 5]
    # Friday's last summary leaves within Friday's window; Monday's lesson is reported too.
    sent = [at for at, kind in requests if kind == "reports" and at > ams(friday, "1450")]
    assert ams(friday, "1450") <= sent[0] < windows[0][1]
    assert len(rig.reports_of("l_f2")) == 1 and len(rig.reports_of("l_m1")) == 1


def test_an_agent_started_at_home_in_the_evening_says_nothing_until_the_next_window(
    rig_at,
) -> None:
    """Switched on at 20:00 on Tuesday with a config on disk: the first request is at
    Wednesday's school-day morning, not at start-up."""
    rig = rig_at(ams(TUESDAY, "2000"), [FIRST, SECOND])
    rig.until(ams(TUESDAY, "2359"))
    assert rig.collector.requests == []
    rig.until(ams(date(2026, 11, 25), "0701"))
    assert rig.collector.requests[0][0] == ams(date(2026, 11, 25), "0700")


def test_a_freshly_enrolled_device_fetches_its_config_at_once(rig_at) -> None:
    """Just enrolled (no timetable yet), in the evening: the config is fetched at once,
    because enrolment itself just told the collector the device is on; then quiet."""
    now = ams(TUESDAY, "1930")
    tomorrow = Lesson("l_w", ams(date(2026, 11, 25), "0830"), ams(date(2026, 11, 25), "0920"))
    rig = rig_at(now, [tomorrow], cached=False, enrolled_at=now - MINUTE)
    assert rig.collector.requests == [(now, "config")] and rig.agent.config is not None
    rig.until(ams(date(2026, 11, 25), "0659"))
    assert len(rig.collector.requests) == 1


def test_an_unenrolled_start_long_after_enrolment_waits_for_school_hours(rig_at) -> None:
    """No timetable, enrolled a week ago, started on Saturday: nothing until Monday 07:00."""
    saturday = date(2026, 11, 28)
    week_ago = ams(saturday, "1100") - timedelta(days=7)
    rig = rig_at(ams(saturday, "1100"), [], cached=False, enrolled_at=week_ago)
    rig.until(ams(date(2026, 11, 30), "0659"))
    assert rig.collector.requests == []
    rig.until(ams(date(2026, 11, 30), "0700"))
    assert rig.collector.requests == [(ams(date(2026, 11, 30), "0700"), "config")]


def test_a_restart_adds_no_contact_on_a_day_without_lessons(rig_at) -> None:
    """The day's one contact happened at 10:00; restarted at 12:00, the agent waits for the
    next school-day morning (the last contact is kept in the outbox)."""
    thursday = date(2026, 11, 26)
    first = rig_at(ams(thursday, "1000"), [])
    assert first.collector.times("config") == [ams(thursday, "1000")]
    first.agent.shutdown()
    again = rig_at(ams(thursday, "1200"), [], state_dir=first.agent.paths.root)
    again.until(ams(thursday, "2359"))
    assert again.collector.requests == []
    assert in_contact(again, ams(thursday, "1200")) is False
    again.until(ams(date(2026, 11, 27), "0700"))
    assert again.collector.times("config") == [ams(date(2026, 11, 27), "0700")]


def test_after_a_crash_the_new_summary_waits_for_the_recovered_ones_end(rig_at, tmp_path) -> None:
    """A checkpoint whose last sample stands for minutes still to come: the restarted agent
    queues it ending there and starts the rest of the lesson (and its first sample) only then,
    so the two summaries do not overlap."""
    state_dir = tmp_path / "crashed"
    crashed = summary.start(
        "6f1c2a4e-0000-4000-8000-000000000001",
        "l_1",
        FIRST.end,
        ams(TUESDAY, "0836"),
        sample_seconds=240,
        grace_seconds=0,
    )
    crashed = summary.step(crashed, [], {"processes": "ok"}, ams(TUESDAY, "0840"))
    until = summary.covered_until(crashed)
    assert until > ams(TUESDAY, "0841")
    box = Outbox(StatePaths(state_dir).ensure().outbox)
    box.checkpoint(summary.to_json(crashed), ams(TUESDAY, "0840"))
    box.close()
    rig = rig_at(ams(TUESDAY, "0841"), [FIRST], state_dir=state_dir)
    rig.until(FIRST.end + SPREAD)
    first, rest = sorted(map(parse_summary, rig.reports_of("l_1")), key=lambda s: s.started_at)
    assert first.report_id == crashed.report_id and first.ended_at == until
    assert rest.started_at == until and rest.coverage.samples >= 1
    samples = [at for at, job in rig.scheduler.ran if job == "sample"]
    assert samples and min(samples) == until
