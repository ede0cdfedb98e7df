"""What ``./dev demo`` adds to the demo school so that every feature has something to show.

Two group chats in the register (one breaking B.1, one on a school platform), the school's own
holidays with its region chosen, a timetable source, next week's lessons, a policy override,
per-device numbers shown to the leader with the reason in the audit log. Each goes through the
operation a person would use (an admin, a teacher, a leader), so the audit log reads as it would
at a school.

Kept out of ``data.seed``: that is the shared template of the page tests (built once per run),
which count on an empty register, no holidays or sources, this week's lessons and the shipped
policy. tests/demo/test_showcase.py applies this to a copy of the template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.actors import Actor
from service.demo.data import SCHOOL, DemoSchool, week_lessons
from service.groupchats import register as groupchats
from service.models import Lesson, School, User
from service.schools import registry as schools
from service.schools import settings as school_settings
from service.settings import Settings
from service.timetable_store import holidays, sources

# Switches on the shipped video-platform rule (off by default) and widens the grace period:
# the policy page then shows a school's own choices next to the protocol's.
OVERRIDE = """\
# The demo school's own choices (docs/policy.md, "A school override").
version = 1

[settings]
grace_seconds = 30

[rules."a1-video-streaming"]
enabled = true
"""
REASON = "Melding van de mentor van 3B: mogelijk opnames tijdens de les."
SOURCE = "Rooster (iCalendar-export)"
HOLIDAY = "Demovakantie"


@dataclass(frozen=True)
class Showcase:
    """What was added, for the start-up text of ``./dev demo`` and the tests."""

    chats: tuple[int, ...]
    holiday_first_day: date
    source: str
    next_week: tuple[str, ...]
    viewed_lesson: str


def seed(session: Session, demo: DemoSchool, *, now: datetime) -> Showcase:
    school: School = schools.school(session, demo.school)
    users = {
        u.username: u for u in session.scalars(select(User).where(User.school_id == school.id))
    }
    tz = schools.check_timezone(school.timezone)
    monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
    admin = Actor.of_user(users["beheer"])
    chats = _group_chats(session, users, now)
    first_day = _holidays(session, admin, monday, now)
    sources.add_source(
        session,
        school=school,
        settings=Settings(),
        name=SOURCE,
        kind="ical_file",
        now=now,
        mapping="vak-klas-docent",
        actor=f"user:{users['beheer'].username}",
    )
    # Next week's lessons, as this week's: some future lessons whatever the day.
    teachers = {"3B": users["devries"], "4A": users["jansen"]}
    following = monday + timedelta(weeks=1)
    next_week = tuple(x.id for _, x in week_lessons(session, school, following, teachers, now))
    school_settings.save_policy_override(session, actor=admin, text=OVERRIDE, now=now)
    # The leader may see per-device numbers once the school allows it, and does so once, for a
    # reason the audit log keeps next to the view.
    changes = school_settings.Changes(disclosure="pseudonymous")
    school_settings.change(session, actor=admin, changes=changes, now=now)
    viewed = _last_finished(session, school, now)
    # Imported here: the page's package brings the whole web app, which the collector's command
    # line (it imports this module for `demo`) does not otherwise need on every start.
    from service.web.pages.device_view import device_view

    device_view(
        session, lesson_id=viewed, viewer=users["leiding"], reason=REASON, now=now, lang="nl"
    )
    return Showcase(chats, first_day, SOURCE, next_week, viewed)


def _group_chats(session: Session, users: dict[str, User], now: datetime) -> tuple[int, ...]:
    """3B's chat in WhatsApp (B.1 says never), 4A's on the school's own platform (in order)."""
    catalog = groupchats.shipped_catalog()
    declared = [
        (
            "devries",
            {"group": "3B", "platform": "whatsapp", "pupils_in_chat": 24, "youngest_age": 14},
        ),
        (
            "jansen",
            {"group": "4A", "platform": "magister", "pupils_in_chat": 22, "youngest_age": 15},
        ),
    ]
    rows = []
    for teacher, chat in declared:
        raw = {
            "account": "school",
            "purposes": ["homework", "cancelled_lessons"],
            "pupils_in_class": chat["pupils_in_chat"],
            "parental_consent": True,
            "alternative": "mail",
            **chat,
        }
        row = groupchats.register(session, viewer=users[teacher], raw=raw, catalog=catalog, now=now)
        rows.append(row.id)
    return tuple(rows)


def _holidays(session: Session, admin: Actor, monday: date, now: datetime) -> date:
    """A week of holiday in three weeks, for region midden, imported as the Rijksoverheid file
    an admin uploads; the school's region set to midden."""
    first = monday + timedelta(weeks=3)
    region = {
        "region": "midden",
        "startdate": f"{first.isoformat()}T00:00:00.000Z",
        "enddate": f"{(first + timedelta(days=4)).isoformat()}T22:59:00.000Z",
    }
    year = first.year if first.month >= 8 else first.year - 1
    content = {
        "title": "Schoolvakanties (demo)",
        "schoolyear": f"{year}-{year + 1}",
        "vacations": [{"type": HOLIDAY, "compulsorydates": "true", "regions": [region]}],
    }
    data = json.dumps([{"id": "demo", "type": "schoolholidays", "content": [content]}])
    holidays.import_file(
        session, actor=admin, data=data.encode(), name="schoolvakanties.json", now=now
    )
    holidays.set_region(session, actor=admin, region="midden", advised=True, now=now)
    return first


def _last_finished(session: Session, school: School, now: datetime) -> str:
    """The school's last lesson that has ended: the one the mentor asked about."""
    found = session.scalar(
        select(Lesson.id)
        .where(Lesson.school_id == school.id, Lesson.end <= now)
        .order_by(Lesson.end.desc(), Lesson.id)
        .limit(1)
    )
    if found is None:
        raise ValueError(f"{SCHOOL}: no lesson has ended yet")
    return found
