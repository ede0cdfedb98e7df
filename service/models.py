"""The collector's tables as typed SQLAlchemy 2 models.

Later issues (timetable import, web pages, group-chat register) extend these through new Alembic
migrations in ``service/migrations/versions``; the first migration creates exactly what is here.
Times are aware UTC (``UTCDateTime``). Devices are pseudonymous: nothing here names a pupil.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.credentials import new_fingerprint_key
from service.db import UTCDateTime

ROLES = ("admin", "leader", "teacher", "it")

# Fixed constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    closed_platform: Mapped[str | None] = mapped_column(String(100))
    retention_days: Mapped[int] = mapped_column(default=28)
    disclosure: Mapped[str] = mapped_column(String(20), default="aggregate")
    small_count_threshold: Mapped[int] = mapped_column(default=3)
    holiday_region: Mapped[str | None] = mapped_column(String(20))
    # Timetables (issue 6): False when the school moved the advised autumn or spring holiday.
    holiday_advised: Mapped[bool] = mapped_column(default=True)
    policy_override: Mapped[str | None] = mapped_column(Text)
    # Web pages (issue 5): what admins see of device-level data; leaders follow ``disclosure``.
    admin_disclosure: Mapped[str] = mapped_column(String(20), default="aggregate")
    # Issue 13: the school's audit entries (and the reasons written in them) are deleted by the
    # retention purge after this many days; bounds in ``service.retention.purge``.
    audit_retention_days: Mapped[int] = mapped_column(default=365, server_default="365")
    # Issue 15: the key of the school's device fingerprints (HMAC-SHA256 of the machine id), so
    # a machine id alone does not give a stored fingerprint. Handed only to a device holding a
    # usable enrolment code (``service.devices.enrolment.fingerprint_key``); never shown.
    fingerprint_key: Mapped[str] = mapped_column(String(64), default=new_fingerprint_key)
    # Issue 17: the share of device-lessons with findings (percent) from which a group and
    # subject is listed on the attention list (``service.reports.attention``).
    attention_threshold: Mapped[int] = mapped_column(default=20, server_default="20")


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("sso_issuer", "sso_subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(default=False)
    # Web pages (issue 5): page language, the e-mail an SSO sign-in maps to, demo accounts.
    lang: Mapped[str] = mapped_column(String(2), default="nl")
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    demo: Mapped[bool] = mapped_column(default=False)
    # Issue 14: the SSO account this user is bound to (issuer, and ``sub`` or Entra's tid/oid).
    sso_issuer: Mapped[str | None] = mapped_column(String(500))
    sso_subject: Mapped[str | None] = mapped_column(String(300))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (
        Index("ix_lessons_group_start", "group_id", "start"),
        # The attention list reads a school's lessons of some weeks (issue 17).
        Index("ix_lessons_school_start", "school_id", "start"),
        # A re-import finds its lesson by the source's own identity (issue 6).
        UniqueConstraint(
            "school_id", "source", "uid", "recurrence_id", name="uq_lessons_source_key"
        ),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    teacher_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    subject: Mapped[str | None] = mapped_column(String(100))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    remote: Mapped[bool] = mapped_column(default=False)
    cancelled: Mapped[bool] = mapped_column(default=False)
    # Filled by the timetable importer (issue: iCalendar import): where a lesson came from.
    source: Mapped[str | None] = mapped_column(String(200))
    uid: Mapped[str | None] = mapped_column(String(255))
    recurrence_id: Mapped[str | None] = mapped_column(String(64))
    # The source's teacher code; teacher_id is set when a user has that username.
    teacher_code: Mapped[str | None] = mapped_column(String(64))
    # Fields an admin changed by hand (issue 6): a sync leaves these as the admin set them.
    edited: Mapped[list[str] | None] = mapped_column(JSON)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(20))
    agent_version: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    enrolled_at: Mapped[datetime]
    # The start (in UTC) of the school-local day the device was last heard from: no time of
    # day is kept (issue 15, ``service.devices.seen``).
    last_seen: Mapped[datetime | None]
    retired: Mapped[bool] = mapped_column(default=False)
    # NULL for devices enrolled before codes were recorded (migration 0011)
    enrolment_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrolment_codes.id"), index=True
    )


class EnrolmentCode(Base):
    __tablename__ = "enrolment_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    uses_left: Mapped[int]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Permission(Base):
    __tablename__ = "permissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id"), index=True)
    categories: Mapped[list[str]] = mapped_column(JSON)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    granted_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class DeviceLessonSummary(Base):
    """One summary as received: device-level data, deleted after the school's retention."""

    __tablename__ = "device_lesson_summaries"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), unique=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id"), index=True)
    received_at: Mapped[datetime]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    seconds_monitored: Mapped[int]
    gaps: Mapped[int]
    dropped: Mapped[int]
    summary: Mapped[dict[str, Any]]


class LessonAggregate(Base):
    """A lesson's report numbers, frozen when its device-level summaries are purged."""

    __tablename__ = "lesson_aggregates"
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id"), primary_key=True)
    frozen_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class LessonTotals(Base):
    """A lesson's per-category totals for pages that read many lessons (``service.lesson_totals``),
    with the fingerprint of the summaries they were counted from; deleted by the purge with them."""

    __tablename__ = "lesson_totals"
    __table_args__ = (
        # The attention list sums the two columns below over some weeks of lessons: an index
        # it reads alone, without the rows' JSON (issue 17).
        Index(
            "ix_lesson_totals_attention",
            "lesson_id",
            "version",
            "devices_reporting",
            "devices_flagged",
        ),
    )
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id"), primary_key=True)
    version: Mapped[int]
    summaries: Mapped[int]
    last_summary_id: Mapped[int]
    last_received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    # Issue 17: ``data``'s devices reporting and its largest category count (device-lessons
    # with findings, as the trend counts them), as columns the database sums without JSON.
    devices_reporting: Mapped[int | None]
    devices_flagged: Mapped[int | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    # The school whose data the entry is about; NULL only for sign-in attempts under unknown
    # names, which belong to no school and are shown to no school's admin.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    object: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(String(500))


class WebSession(Base):
    """A browser's session; the cookie holds a random token, only its hash is stored here."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]]


class SignInFailure(Base):
    """One failed password sign-in, counted per account within the lock-out window."""

    __tablename__ = "sign_in_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime]


class TimetableSource(Base):
    """Where a school's lessons come from (issue 6); its secret lives in ``timetable_secrets``."""

    __tablename__ = "timetable_sources"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # ical_file, ical_url, zermelo, csv
    mapping: Mapped[str | None] = mapped_column(Text)  # a preset's name or a TOML document
    default_group: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]]  # non-secret settings: query parameters, days ahead
    interval_seconds: Mapped[int] = mapped_column(default=3600)  # 0: only by hand
    secret_hint: Mapped[str | None] = mapped_column(String(200))  # redacted, safe to show
    created_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]  # a process is syncing it until then
    last_sync_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(20))  # ok, refused, failed
    last_counts: Mapped[dict[str, Any] | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class TimetableSecret(Base):
    """A source's feed URL or API token, Fernet-encrypted with the collector's secret key."""

    __tablename__ = "timetable_secrets"
    source_id: Mapped[int] = mapped_column(ForeignKey("timetable_sources.id"), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)


class TimetableUpload(Base):
    """A file an admin uploaded to import (issue 6), kept between its preview and the confirm.

    Keyed to the browser session that uploaded it; ``data`` is dropped once it is imported or
    discarded, and the row doubles as the progress the page polls while the import runs.
    """

    __tablename__ = "timetable_uploads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    filename: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    default_group: Mapped[str | None] = mapped_column(String(64))
    mapping: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20))  # reading, previewed, applying, done, failed
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    preview: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class SchoolHoliday(Base):
    """One holiday period of one region (or "heel nederland"), from the Rijksoverheid data.

    ``school_id`` NULL: the shared national reference, which every school reads. Set: a file
    one school's admin imported; for that school it replaces the reference of the school
    years it covers, and no other school sees it (``service.timetable_store.holidays``).
    """

    __tablename__ = "school_holidays"
    __table_args__ = (Index("ix_school_holidays_region_days", "region", "first_day", "last_day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    region: Mapped[str] = mapped_column(String(20))
    schoolyear: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    first_day: Mapped[date]
    last_day: Mapped[date]  # inclusive
    compulsory: Mapped[bool]


class GroupChat(Base):
    """A class group chat a teacher declared (issue 7): facts and counts, never its content.

    No message text, member names or phone numbers: the columns are the declaration of
    ``policies.groupchat.Chat`` and the findings of its last check.
    """

    __tablename__ = "group_chats"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    group: Mapped[str] = mapped_column(String(40))
    platform: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(10))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    pupils_in_class: Mapped[int]
    pupils_in_chat: Mapped[int]
    youngest_age: Mapped[int]
    parental_consent: Mapped[bool]
    alternative: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The last check: its findings, when it ran, and a digest of what it depended on (the
    # catalog, the school's closed platform and its policy); a different digest means re-check.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    checked_at: Mapped[datetime]
    checked_against: Mapped[str] = mapped_column(String(64))
