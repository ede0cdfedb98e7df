"""When to do what: pure functions of (config, now), so tests pick the times.

All times here are collector time (UTC). The device clock may be off; ``clock_offset`` measures
by how much from the HTTP ``Date`` header, and the runner converts back to device time only when
it hands a moment to APScheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from email.utils import parsedate_to_datetime

from agent.config import AgentConfig, Lesson

# Device and collector clocks differing by less than this are treated as equal: the Date header
# has whole-second resolution and a request takes time.
OFFSET_TOLERANCE = timedelta(seconds=2)
HALF_SECOND = timedelta(milliseconds=500)
# A wall clock that moved this much more (or less) than the monotonic clock means sleep, resume
# or someone setting the clock: re-plan.
JUMP_TOLERANCE = timedelta(seconds=5)


def current_lesson(lessons: Sequence[Lesson], now: datetime) -> Lesson | None:
    """The lesson running at ``now`` (cancelled ones never run); the earliest if they overlap."""
    running = [x for x in lessons if not x.cancelled and x.start <= now < x.end]
    return min(running, key=lambda x: (x.start, x.id)) if running else None


def boundaries(lessons: Sequence[Lesson], now: datetime) -> list[datetime]:
    """Future starts and ends of lessons that will run, sorted, each once."""
    points = {t for x in lessons if not x.cancelled for t in (x.start, x.end) if t > now}
    return sorted(points)


def next_windows(lessons: Sequence[Lesson], now: datetime, limit: int = 5) -> list[Lesson]:
    """The running lesson and the next ones, for ``explain`` and ``status``."""
    coming = [x for x in lessons if not x.cancelled and x.end > now]
    return sorted(coming, key=lambda x: x.start)[:limit]


@dataclass(frozen=True)
class Plan:
    lesson: Lesson | None  # the lesson to monitor now
    wake_at: datetime  # the next moment something must be decided (boundary or config poll)
    poll_at: datetime


def plan(config: AgentConfig, now: datetime, last_poll: datetime) -> Plan:
    """What to monitor now, and when to wake next: the next boundary or config poll."""
    lesson = current_lesson(config.lessons, now)
    interval = config.poll_in_lesson if lesson else config.poll_idle
    poll_at = max(last_poll + timedelta(seconds=interval), now)
    future = boundaries(config.lessons, now)
    wake_at = min([poll_at, *future[:1]])
    return Plan(lesson=lesson, wake_at=wake_at, poll_at=poll_at)


# The agent talks to the collector only around the school day: from CONTACT_LEAD before a day's
# first lesson until CONTACT_TAIL after its last one's summary may be sent. A laptop switched on
# at home in the evening or at the weekend asks nothing and sends nothing, so the collector
# cannot learn when it is in use outside school.
CONTACT_LEAD = timedelta(minutes=30)
CONTACT_TAIL = timedelta(minutes=30)
# Lessons less than this apart belong to one school day (no time zone is needed to tell days).
DAY_GAP = timedelta(hours=6)
# With no lesson known ahead: once on a school day the device is on, within these device-local
# hours, to learn the timetable.
SCHOOL_HOURS = (time(7, 0), time(17, 0))


def contact_windows(
    lessons: Sequence[Lesson], upload_spread: timedelta
) -> list[tuple[datetime, datetime]]:
    """The spans in which the agent may poll and upload: one per school day of lessons."""
    windows: list[tuple[datetime, datetime]] = []
    last_end: datetime | None = None
    for lesson in sorted((x for x in lessons if not x.cancelled), key=lambda x: x.start):
        end = lesson.end + upload_spread + CONTACT_TAIL
        if windows and last_end is not None and lesson.start - last_end < DAY_GAP:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((lesson.start - CONTACT_LEAD, end))
        last_end = max(last_end or lesson.end, lesson.end)
    return windows


def next_contact(
    moment: datetime,
    windows: Sequence[tuple[datetime, datetime]],
    *,
    local: tzinfo,
    last_contact: datetime | None,
) -> datetime:
    """The first time at or after ``moment`` when the agent may talk to the collector.

    Inside a contact window: ``moment``. Otherwise the earlier of the next window's start and
    the once-a-school-day contact that learns the timetable (Monday to Friday, within
    SCHOOL_HOURS, device-local): ``moment`` itself when that is in school hours and there was no
    contact yet that day, else the next school day's first school hour. Never an evening, a
    night or a weekend without lessons.
    """
    for start, end in windows:
        if start <= moment < end:
            return moment
    ahead = [start for start, _ in windows if start > moment]
    there = moment.astimezone(local)
    contacted = last_contact.astimezone(local).date() if last_contact else None
    if (
        there.weekday() < 5
        and SCHOOL_HOURS[0] <= there.time() < SCHOOL_HOURS[1]
        and contacted != there.date()
    ):
        once = moment
    else:
        day = there.date() + timedelta(days=0 if there.time() < SCHOOL_HOURS[0] else 1)
        while day.weekday() >= 5 or day == contacted:
            day += timedelta(days=1)
        once = datetime.combine(day, SCHOOL_HOURS[0], tzinfo=local).astimezone(moment.tzinfo)
    return min([*ahead[:1], once])


def clock_offset(date_header: str | None, sent: datetime, received: datetime) -> timedelta | None:
    """Collector time minus device time, from a response's ``Date`` header; None if unusable.

    The collector stamped the header somewhere between ``sent`` and ``received``: the midpoint
    is the best guess of when. The header names the whole second the collector's clock was in,
    so the middle of that second is the best guess of its time. Read as the second's start, a
    collector on this very machine (uvicorn renews the header once a second, so it is up to 2 s
    old) measured -2 s now and then, and two runs of the agent disagreed by 2 s about one
    lesson. Offsets within the header's resolution count as zero.
    """
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        return None
    offset = server + HALF_SECOND - (sent + (received - sent) / 2)
    return timedelta(0) if abs(offset) < OFFSET_TOLERANCE else offset


def clock_jumped(wall: timedelta, monotonic: timedelta) -> bool:
    """True when the wall clock moved differently from the monotonic one (sleep, resume, set)."""
    return abs(wall - monotonic) > JUMP_TOLERANCE
