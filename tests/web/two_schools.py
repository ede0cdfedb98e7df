"""Two schools on one collector (issue 13): the demo school as school A, with distinctive
"canaries" planted in every kind of row it owns, and a second school B with its own admin,
leader, teacher, IT user, API tokens, device and lesson.

A canary is a string only school A's data holds; if one turns up in an answer to one of B's
people, something of A's leaked. The ids are A's real ids; the names are made up to be
unmistakable (the demo's own "beheer" and "leiding" are Dutch words the pages use).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from service import audit, credentials
from service.accounts import users
from service.actors import Actor
from service.devices import enrolment
from service.groupchats import register as groupchats
from service.lessons import records as lessons
from service.models import (
    ApiToken,
    AuditEntry,
    Base,
    Device,
    DeviceLessonSummary,
    EnrolmentCode,
    Group,
    GroupChat,
    Lesson,
    LessonAggregate,
    LessonTotals,
    Permission,
    Room,
    School,
    SchoolHoliday,
    SignInFailure,
    TimetableSecret,
    TimetableSource,
    TimetableUpload,
    User,
    WebSession,
)
from service.schools import registry as schools
from service.settings import Settings
from service.timetable import parse_holidays
from service.timetable_store import holidays, sources, uploads
from tests.support.actors import operator_for
from tests.support.databases import CHEAP_HASHER

A_GROUP = "Kanariegroep-A"
A_SUBJECT = "Kanarievak-A"
A_IT = "kanarie-ict-a"
A_EMAIL = "kanarie-a@school-a.example"
A_REASON = "kanarie-reden-A"
A_NOTE = "kanarie-notitie-A"
A_SOURCE = "kanarie-bron-A"
A_HOLIDAY = "Kanarievakantie-A"
A_UPLOAD = "kanarie-rooster-A.ics"

B_SCHOOL = "Tweede school"
B_GROUP = "B1"
B_PASSWORD = "tweede-school-wachtwoord"
B_ROLES = {"b-beheer": "admin", "b-leiding": "leader", "b-docent": "teacher", "b-ict": "it"}


def holiday_file(name: str, first: date, last: date, *, year: str = "2026-2027") -> bytes:
    """A Rijksoverheid-format file with one holiday for every region (made up for the tests)."""
    regions = [
        {
            "region": region,
            "startdate": f"{first.isoformat()}T00:00:00.000Z",
            "enddate": f"{last.isoformat()}T22:59:00.000Z",
        }
        for region in ("noord", "midden", "zuid")
    ]
    vacation = {"type": name, "compulsorydates": "true", "regions": regions}
    content = {"title": name, "schoolyear": year, "vacations": [vacation]}
    return json.dumps([{"id": name, "type": "schoolholidays", "content": [content]}]).encode()


@dataclass
class SchoolA:
    """School A's ids a route takes, and every canary of it."""

    school_id: int
    lesson_id: str  # in progress, taught by devries, with a permission
    permission_id: int
    device_id: str
    device_token: str
    user_id: int
    chat_id: int
    source_id: int
    upload_id: str
    code_id: int
    week: str
    canaries: set[str] = field(default_factory=set)


@dataclass
class SchoolB:
    school_id: int
    lesson_id: str
    user_tokens: dict[str, str]  # username -> API token
    device_token: str


def plant_canaries(
    session: Session, *, now: datetime, lesson_in_progress: str, device_tokens: dict[str, str]
) -> SchoolA:
    """Add to the demo school one of everything it can own, each named unmistakably."""
    school = schools.school(session, "Demo school")
    school.holiday_region = "midden"
    devries = session.scalars(select(User).where(User.username == "devries")).one()
    ict = User(
        school_id=school.id,
        username=A_IT,
        role="it",
        password_hash=CHEAP_HASHER.hash(B_PASSWORD),
        created_at=now,
        email=A_EMAIL,
    )
    session.add(ict)
    session.flush()
    users.create_token(session, actor=operator_for(ict), user=ict, now=now)
    lesson = lessons.add_lesson(
        session,
        school=school,
        group=A_GROUP,
        start=now - timedelta(minutes=10),
        end=now + timedelta(minutes=40),
        now=now,
        teacher=devries,
        subject=A_SUBJECT,
    )
    current = session.get_one(Lesson, lesson_in_progress)
    permission = Permission(
        lesson_id=current.id,
        categories=["social_media"],
        granted_by=devries.id,
        note=A_NOTE,
        granted_at=now,
    )
    session.add(permission)
    audit.record(
        session,
        actor="user:leiding",
        school_id=school.id,
        action="devices.view",
        obj=f"lesson:{current.id}",
        now=now,
        reason=A_REASON,
    )
    code = enrolment.create_code(
        session,
        actor=Actor.operator(school),
        group=A_GROUP,
        uses=5,
        lifetime=timedelta(days=7),
        now=now,
    )
    chat = groupchats.register(
        session,
        viewer=devries,
        raw={
            "group": A_GROUP,
            "platform": "signal",
            "account": "school",
            "purposes": ["homework"],
            "pupils_in_class": 28,
            "pupils_in_chat": 28,
            "youngest_age": 14,
            "parental_consent": True,
            "alternative": "mail",
        },
        catalog=groupchats.shipped_catalog(),
        now=now,
    )
    source = sources.add_source(
        session,
        school=school,
        settings=Settings(),
        name=A_SOURCE,
        kind="ical_url",
        secret="http://127.0.0.1:9/kanarie.ics",
        now=now,
    )
    upload = uploads.create(
        session,
        school=school,
        session_id="a-session",
        uploaded_by="beheer",
        filename=A_UPLOAD,
        data=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        source=A_SOURCE,
        group=A_GROUP,
        mapping=None,
        now=now,
    )
    own = parse_holidays(holiday_file(A_HOLIDAY, date(2027, 2, 15), date(2027, 2, 19)))
    holidays.store(session, own, school_id=school.id, region=None)
    device_id, device_token = sorted(device_tokens.items())[0]
    session.flush()
    local = now.astimezone(schools.check_timezone(school.timezone)).date()
    found = SchoolA(
        school_id=school.id,
        lesson_id=current.id,
        permission_id=permission.id,
        device_id=device_id,
        device_token=device_token,
        user_id=devries.id,
        chat_id=chat.id,
        source_id=source.id,
        upload_id=upload.id,
        code_id=session.scalars(
            select(EnrolmentCode.id).where(EnrolmentCode.code_hash == credentials.code_hash(code))
        ).one(),
        week=(local - timedelta(days=local.weekday())).isoformat(),
    )
    found.canaries |= {
        "Demo school",
        "devries",
        "jansen",
        A_IT,
        A_EMAIL,
        A_GROUP,
        A_SUBJECT,
        A_REASON,
        A_NOTE,
        A_SOURCE,
        A_HOLIDAY,
        A_UPLOAD,
        lesson.id,
        upload.id,
    }
    found.canaries |= set(session.scalars(select(Lesson.id).where(Lesson.school_id == school.id)))
    for d in session.scalars(select(Device).where(Device.school_id == school.id)):
        found.canaries |= {d.id, *([d.label] if d.label else [])}
    return found


def add_school_b(session: Session, *, now: datetime) -> SchoolB:
    """A second school on the collector: its staff with API tokens, a device and a lesson."""
    school = schools.school(session, B_SCHOOL, "Europe/Amsterdam")
    school.holiday_region = "midden"
    tokens = {}
    staff: dict[str, User] = {}
    for name, role in B_ROLES.items():
        user = User(
            school_id=school.id,
            username=name,
            role=role,
            password_hash=CHEAP_HASHER.hash(B_PASSWORD),
            created_at=now,
            email=f"{name}@school-b.example",
        )
        session.add(user)
        session.flush()
        staff[name] = user
        tokens[name] = users.create_token(session, actor=operator_for(user), user=user, now=now)
    lesson = lessons.add_lesson(
        session,
        school=school,
        group=B_GROUP,
        start=now - timedelta(minutes=15),
        end=now + timedelta(minutes=35),
        now=now,
        teacher=staff["b-docent"],
        subject="rekenen",
    )
    code = enrolment.create_code(
        session,
        actor=Actor.operator(school),
        group=B_GROUP,
        uses=5,
        lifetime=timedelta(days=7),
        now=now,
    )
    enrolled = enrolment.enroll(
        session,
        code=code,
        platform="linux",
        agent_version="0.1.0",
        label="B1-01",
        fingerprint=None,
        now=now,
    )
    return SchoolB(school.id, lesson.id, tokens, enrolled.token)


def owned_by(school_id: int) -> dict[str, ColumnElement[bool]]:
    """Per table, which of its rows are the school's: what nothing of another school's people
    may change. The shared national holidays count too (no school may change them either). A
    table the schema gains must be added here (``test_every_table_has_an_owner`` says so)."""
    lessons_of = select(Lesson.id).where(Lesson.school_id == school_id)
    users_of = select(User.id).where(User.school_id == school_id)
    groups_of = select(Group.id).where(Group.school_id == school_id)
    devices_of = select(Device.id).where(Device.school_id == school_id)
    sources_of = select(TimetableSource.id).where(TimetableSource.school_id == school_id)
    return {
        "schools": School.id == school_id,
        "groups": Group.school_id == school_id,
        "users": User.school_id == school_id,
        "api_tokens": ApiToken.user_id.in_(users_of),
        "rooms": Room.school_id == school_id,
        "lessons": Lesson.school_id == school_id,
        "devices": Device.school_id == school_id,
        "enrolment_codes": EnrolmentCode.group_id.in_(groups_of),
        "permissions": Permission.lesson_id.in_(lessons_of),
        "device_lesson_summaries": DeviceLessonSummary.lesson_id.in_(lessons_of)
        | DeviceLessonSummary.device_id.in_(devices_of),
        "lesson_aggregates": LessonAggregate.lesson_id.in_(lessons_of),
        "lesson_totals": LessonTotals.lesson_id.in_(lessons_of),
        "audit_log": AuditEntry.school_id == school_id,
        "web_sessions": WebSession.user_id.in_(users_of),
        "sign_in_failures": SignInFailure.user_id.in_(users_of),
        "timetable_sources": TimetableSource.school_id == school_id,
        "timetable_secrets": TimetableSecret.source_id.in_(sources_of),
        "timetable_uploads": TimetableUpload.school_id == school_id,
        "school_holidays": (SchoolHoliday.school_id == school_id)
        | SchoolHoliday.school_id.is_(None),
        "group_chats": GroupChat.school_id == school_id,
    }


# A summary is written once and never changed: its other columns say whether it is there, and
# leaving its JSON out makes a snapshot of the demo school ten times faster.
_UNCHANGING = {"device_lesson_summaries": ("summary",)}


def snapshot(session: Session, school_id: int) -> dict[str, list[str]]:
    """Every row the school owns, table by table, as sorted text."""
    found = {}
    for name, mine in owned_by(school_id).items():
        table = Base.metadata.tables[name]
        columns = [c for c in table.c if c.name not in _UNCHANGING.get(name, ())]
        rows = session.execute(select(*columns).where(mine)).all()
        found[name] = sorted(repr(tuple(row)) for row in rows)
    return found


def changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, Any]:
    """What differs, per table: rows gone and rows new (a changed row is both)."""
    found = {}
    for name in before:
        gone = sorted(set(before[name]) - set(after[name]))
        new = sorted(set(after[name]) - set(before[name]))
        if gone or new:
            found[name] = {"gone": gone[:3], "new": new[:3]}
    return found
