"""A demo school for trying the web pages and for the browser tests: framework-free.

``seed(session, now=...)`` builds "Demo school" (Europe/Amsterdam) with an admin, a leader and
two teachers, groups 3B and 4A with devices, this week's lessons (one of them in progress at
``now``), three earlier weeks for the trend, a permission, and summaries drawn from a fixed
random seed so the reports look the same each time. The in-progress lesson gets summaries up to
``now``, as agents restarted mid-lesson send them, so its report is populated while a
permission can still be granted.

The demo accounts are marked ``demo``: their printed passwords only work while the collector
runs in demo mode (web setting ``demo``).
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from policies.wire import BUCKET_SECONDS, format_time, parse_summary
from service import credentials
from service.devices.seen import day_start
from service.lessons import records as lessons
from service.models import Device, DeviceLessonSummary, Lesson, School, User
from service.schools import registry as schools

SCHOOL = "Demo school"
PASSWORDS = {
    "beheer": ("admin", "demo-beheer-2026"),
    "leiding": ("leader", "demo-leiding-2026"),
    "devries": ("teacher", "demo-devries-2026"),
    "jansen": ("teacher", "demo-jansen-2026"),
}
DEVICES = {"3B": 24, "4A": 22}
# Each group's lessons of a day (start, 50 minutes) and their subjects, in order.
SLOTS = {"3B": [(8, 30), (10, 15), (13, 0)], "4A": [(9, 20), (11, 10), (14, 0)]}
SUBJECTS = {
    "3B": ["wiskunde", "Nederlands", "biologie"],
    "4A": ["Engels", "geschiedenis", "natuurkunde"],
}
# (rule, family, share of devices, typical seconds). The article and the category come from the
# shipped policy, as the engine would report them: the demo once filed Snipping Tool under
# "screenshot" while /privacy and explain list it under the catalog's "screen_recording".
PATTERNS = (
    ("a1-social-media", "instagram", 0.25, 420),
    ("a1-social-media", "tiktok", 0.15, 300),
    ("a1-social-media", "snapchat", 0.06, 120),
    ("a1-recording", "snipping_tool", 0.05, 60),
)


@functools.cache
def pattern_findings() -> tuple[tuple[str, str, str, str, float, int], ...]:
    """PATTERNS as (rule, article, category, family, share, seconds), read from the policy."""
    from policies import load_policy

    policy = load_policy()
    out = []
    for rule, family, share, typical in PATTERNS:
        category = policy.families[family].category
        if category not in policy.rule(rule).categories:
            raise ValueError(f"demo pattern: rule {rule} does not cover {family}'s {category}")
        out.append((rule, policy.rule(rule).article, category, family, share, typical))
    return tuple(out)


@dataclass
class DemoSchool:
    school: str
    passwords: dict[str, str]
    lesson_in_progress: str
    lessons: list[str] = field(default_factory=list)
    device_tokens: dict[str, str] = field(
        default_factory=dict
    )  # device id -> token, first per group


def _summary(
    rng: random.Random,
    lesson: Lesson,
    end: datetime,
    patterns: tuple[tuple[str, str, str, str, float, int], ...],
) -> dict[str, Any]:
    span = int((end - lesson.start).total_seconds())
    n_buckets = max(1, -(-span // BUCKET_SECONDS))
    findings = []
    for rule, article, category, family, share, typical in patterns:
        if rng.random() >= share:
            continue
        seconds = min(span, max(60, int(rng.gauss(typical, typical / 3))))
        first = rng.randrange(n_buckets)
        buckets = [0] * n_buckets
        left, b = seconds, first
        while left > 0 and b < n_buckets:
            buckets[b] = min(left, BUCKET_SECONDS)
            left -= buckets[b]
            b += 1
        seconds = sum(buckets)
        findings.append(
            {
                "rule": rule,
                "article": article,
                "category": category,
                "family": family,
                "seconds": seconds,
                "episodes": 1 + seconds // 400,
                "first_minute": first * 5,
                "buckets": buckets,
            }
        )
    return {
        "report_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "lesson_id": lesson.id,
        "started_at": format_time(lesson.start),
        "ended_at": format_time(end),
        "agent_version": "0.1.0",
        "coverage": {
            "seconds_monitored": span,
            "samples": span // 15,
            "gaps": 1 if rng.random() < 0.04 else 0,
            "probes": {"processes": "ok", "capture_files": "ok", "camera": "ok"},
        },
        "findings": findings,
        "dropped": 0,
    }


def _report(
    session: Session, rng: random.Random, lesson: Lesson, devices: list[Device], now: datetime
) -> None:
    end = min(lesson.end, now)
    if end <= lesson.start:
        return
    patterns = pattern_findings()
    for device in devices:
        if rng.random() < 0.12:  # some devices stay silent: switched off, left at home
            continue
        data = _summary(rng, lesson, end, patterns)
        parse_summary(data)  # the demo must hold only what the wire format allows
        session.add(
            DeviceLessonSummary(
                report_id=data["report_id"],
                device_id=device.id,
                lesson_id=lesson.id,
                received_at=end,
                started_at=lesson.start,
                ended_at=end,
                seconds_monitored=data["coverage"]["seconds_monitored"],
                gaps=data["coverage"]["gaps"],
                dropped=0,
                summary=data,
            )
        )


def week_lessons(
    session: Session,
    school: School,
    monday: date,
    teachers: dict[str, User],
    now: datetime,
    skip: Callable[[str, datetime], bool] = lambda _group, _start: False,
) -> Iterator[tuple[str, Lesson]]:
    """A week of the demo timetable, added lesson by lesson: each group's ``SLOTS`` from
    Monday to Friday in the school's zone, but those ``skip`` names (group, start)."""
    tz = schools.check_timezone(school.timezone)
    for day in range(5):
        for group, times in SLOTS.items():
            for k, (h, m) in enumerate(times):
                start = datetime.combine(monday + timedelta(days=day), time(h, m), tz)
                if skip(group, start):
                    continue
                yield (
                    group,
                    lessons.add_lesson(
                        session,
                        school=school,
                        group=group,
                        start=start,
                        end=start + timedelta(minutes=50),
                        now=now,
                        teacher=teachers[group],
                        subject=SUBJECTS[group][k],
                        room=f"A{11 + k}",
                    ),
                )


def seed(session: Session, *, now: datetime) -> DemoSchool:
    rng = random.Random(20261124)
    school: School = schools.school(session, SCHOOL, "Europe/Amsterdam")
    tz = schools.check_timezone(school.timezone)
    users: dict[str, User] = {}
    for name, (role, password) in PASSWORDS.items():
        users[name] = User(
            school_id=school.id,
            username=name,
            role=role,
            password_hash=credentials.hash_password(password),
            created_at=now,
            demo=True,
            lang="nl",
        )
    session.add_all(users.values())
    session.flush()
    teacher = {"3B": users["devries"], "4A": users["jansen"]}
    devices: dict[str, list[Device]] = {}
    demo = DemoSchool(SCHOOL, {n: p for n, (_, p) in PASSWORDS.items()}, lesson_in_progress="")
    for group, count in DEVICES.items():
        g = schools.group(session, school, group)
        devices[group] = []
        for i in range(count):
            token = credentials.new_device_token()
            device = Device(
                id=credentials.new_id("d_"),
                school_id=school.id,
                group_id=g.id,
                token_hash=credentials.token_hash(token),
                label=f"{group}-{i + 1:02d}",
                platform=("windows", "macos", "linux")[i % 3],
                agent_version="0.1.0",
                fingerprint=None,
                enrolled_at=now - timedelta(days=40),
                # The collector keeps only the day a device was seen (service.devices.seen).
                last_seen=day_start(now - timedelta(minutes=rng.randrange(1, 90)), tz),
                retired=False,
            )
            session.add(device)
            devices[group].append(device)
            if i == 0:
                demo.device_tokens[device.id] = token
    session.flush()

    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    # The lesson in progress: started 20 minutes ago, on the 5-minute grid.
    local = now.astimezone(tz)
    current_start = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    current_start -= timedelta(minutes=20)

    def in_progress(group: str, start: datetime) -> bool:
        return group == "3B" and abs(start - current_start) < timedelta(minutes=50)

    for week in (-3, -2, -1, 0):
        start_of_week = monday + timedelta(weeks=week)
        for group, lesson in week_lessons(
            session, school, start_of_week, teacher, now, in_progress
        ):
            demo.lessons.append(lesson.id)
            if lesson.start < now:
                _report(session, rng, lesson, devices[group], now)
    current = lessons.add_lesson(
        session,
        school=school,
        group="3B",
        start=current_start,
        end=current_start + timedelta(minutes=50),
        now=now,
        teacher=users["devries"],
        subject="wiskunde",
        room="A12",
    )
    _report(session, rng, current, devices["3B"], now)
    demo.lesson_in_progress = current.id
    demo.lessons.append(current.id)
    earlier = [lid for lid in demo.lessons if session.get_one(Lesson, lid).end <= now]
    if earlier:
        past = session.get_one(Lesson, earlier[-1])
        permission = lessons.grant_permission(
            session,
            lesson=past,
            categories=["social_media"],
            now=now,
            granted_by=users["devries"].id,
            note="Instagram-opdracht voor het project",
        )
        permission.granted_at = past.start
    return demo
