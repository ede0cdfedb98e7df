"""When to do what: pure functions of (config, now), so tests pick the times.

``plan(config, state, now)`` is the agent's one decision about time, beside ``summary.step``:
the runner gathers (config, what it knows, now), plans, and carries the plan out.

All times here are collector time (UTC). The device clock may be off; ``clock_offset`` measures
by how much from the HTTP ``Date`` header, and the runner converts back to device time only when
it hands a moment to APScheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config import AgentConfig, Lesson

# The contact windows' numbers, shared with the explanation pupils read (re-exported).
from policies.contact import CONTACT_LEAD as CONTACT_LEAD
from policies.contact import CONTACT_TAIL as CONTACT_TAIL
from policies.contact import DAY_GAP as DAY_GAP
from policies.contact import SCHOOL_HOURS as SCHOOL_HOURS

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


# A device that has just enrolled has no timetable yet. Enrolment was itself a contact (IT at
# school, or a master image's first boot), so fetching the config in the minutes after it tells
# the collector nothing it did not just learn; later, without a timetable, only the
# once-a-school-day contact remains.
ENROLMENT_CONTACT = timedelta(minutes=15)
# A contact that has begun may finish its business: the once-a-day contact polls the config
# and sends what is queued together, and an upload retried after 5 s is part of it.
CONTACT_SESSION = timedelta(minutes=2)
# Without any config the agent asks again this soon (while it may contact the collector).
NO_CONFIG_RETRY = timedelta(seconds=30)
# The upload spread assumed before a policy says otherwise (the policy's default).
DEFAULT_SPREAD = timedelta(seconds=120)


@dataclass(frozen=True)
class PlanState:
    """What the runner knows besides the config, gathered when it plans. Times are collector
    time except ``zone``."""

    last_poll: datetime | None = None  # the last config poll tried; None: poll when allowed
    last_contact: datetime | None = None  # the last request of any kind (kept across restarts)
    session: datetime | None = None  # when the run of contacts ending at last_contact began
    upload_due: datetime | None = None  # when a queued summary may go (backoff included)
    enrolled_at: datetime | None = None  # when this device enrolled
    zone: tzinfo = UTC  # the device's own time zone, used when the config names none


@dataclass(frozen=True)
class Plan:
    lesson: Lesson | None  # the lesson to monitor now
    boundary: datetime | None  # the next lesson start or end to wake for
    poll_at: datetime  # the next config poll
    upload_at: datetime | None  # when queued summaries may be sent; None: nothing to send
    windows: tuple[tuple[datetime, datetime], ...]  # the contact windows in force
    zone: tzinfo  # the zone of the school day (for SCHOOL_HOURS and weekdays)


def school_zone(config: AgentConfig | None, device: tzinfo) -> tzinfo:
    """The school's time zone from the config (``school.timezone``), else the device's own."""
    name = config.timezone if config is not None else None
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return device


def upload_spread(config: AgentConfig | None) -> timedelta:
    if config is None:
        return DEFAULT_SPREAD
    return timedelta(seconds=config.compiled.policy.settings.upload_delay_max_seconds)


def plan(config: AgentConfig | None, state: PlanState, now: datetime) -> Plan:
    """What to monitor now, which boundary to wake for, and when the next config poll and the
    next upload may happen: polls and uploads only in contact windows (issue 15, point 3)."""
    lessons = config.lessons if config is not None else ()
    lesson = current_lesson(lessons, now)
    windows = contact_windows(lessons, upload_spread(config))
    if state.enrolled_at is not None:
        windows.append((state.enrolled_at, state.enrolled_at + ENROLMENT_CONTACT))
    if state.session is not None:
        windows.append((state.session, state.session + CONTACT_SESSION))
    windows.sort()
    zone = school_zone(config, state.zone)
    if config is None:
        interval = NO_CONFIG_RETRY
    else:
        interval = timedelta(seconds=config.poll_in_lesson if lesson else config.poll_idle)
    wanted = now if state.last_poll is None else max(state.last_poll + interval, now)
    poll_at = next_contact(wanted, windows, local=zone, last_contact=state.last_contact)
    upload_at = None
    if state.upload_due is not None:
        upload_at = next_contact(
            max(state.upload_due, now), windows, local=zone, last_contact=state.last_contact
        )
    future = boundaries(lessons, now)
    return Plan(
        lesson=lesson,
        boundary=future[0] if future else None,
        poll_at=poll_at,
        upload_at=upload_at,
        windows=tuple(windows),
        zone=zone,
    )


def session_start(last: datetime | None, began: datetime | None, now: datetime) -> datetime:
    """When the run of contacts that a contact at ``now`` belongs to began: the one that began
    at ``began`` while it lasts (CONTACT_SESSION, never extended), else a new one now."""
    if last is not None and began is not None and began <= now < began + CONTACT_SESSION:
        return began
    return now


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


def clock_set_forward(wall: timedelta, monotonic: timedelta, slept: timedelta | None) -> timedelta:
    """How far someone set the wall clock forward: what it moved beyond time passing and the
    device's sleep. Zero when the OS cannot say how long the device slept (then a sleep and a
    clock set forward look alike, and are taken for a sleep) or within the tolerance."""
    if slept is None:
        return timedelta(0)
    ahead = wall - monotonic - slept
    return ahead if ahead > JUMP_TOLERANCE else timedelta(0)
