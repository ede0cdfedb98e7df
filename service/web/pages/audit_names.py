"""What the audit log's stored names read as: ``lesson:l_…`` becomes the lesson's group, subject
and local time, ``device:d_…`` the device's pseudonym and label, ``user:devries`` the user name,
a group chat or an enrolment code its number and group.

The log keeps ids (they survive renames and are what a data-access request searches for); the
page resolves them when shown, for a whole page of entries in one query per kind of object, so
a page of 50 costs as many queries as a page of 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import localtime
from service.models import Device, EnrolmentCode, Group, GroupChat, Lesson
from service.web.i18n import Translate, labels


@dataclass(frozen=True)
class LessonName:
    group: str
    subject: str | None
    start: str  # "2026-11-23 08:30" in the school's zone


@dataclass(frozen=True)
class Names:
    """The lessons and devices a set of entries names, resolved in the viewer's school."""

    lessons: dict[str, LessonName]
    devices: dict[str, str | None]  # id -> label
    # id -> the group it is of (the ids are numbers, kept as the text the log holds)
    chats: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)


def _ids(values: Iterable[str | None], kind: str) -> set[str]:
    prefix = f"{kind}:"
    return {v[len(prefix) :] for v in values if v and v.startswith(prefix)}


def _numbers(texts: set[str]) -> set[int]:
    # A stored id that is not a number names nothing: it stays as it is, never a query error.
    return {int(t) for t in texts if t.isascii() and t.isdigit() and len(t) < 10}


def resolve(
    session: Session, *, school_id: int, tz: ZoneInfo, names: Iterable[str | None]
) -> Names:
    """One query each for the lessons, devices, group chats and enrolment codes among ``names``
    (objects and actors), and none for a kind that is not among them; only rows of
    ``school_id``, so an id of another school never reads as anything but itself."""
    shown = list(names)
    lesson_ids, device_ids = _ids(shown, "lesson"), _ids(shown, "device")
    lessons: dict[str, LessonName] = {}
    if lesson_ids:
        query = (
            select(Lesson.id, Group.name, Lesson.subject, Lesson.start)
            .join(Group, Group.id == Lesson.group_id)
            .where(Lesson.school_id == school_id, Lesson.id.in_(lesson_ids))
        )
        for lesson_id, group, subject, start in session.execute(query):
            lessons[lesson_id] = LessonName(group, subject, localtime.moment(start, tz))
    devices: dict[str, str | None] = {}
    if device_ids:
        query_devices = select(Device.id, Device.label).where(
            Device.school_id == school_id, Device.id.in_(device_ids)
        )
        devices = dict(session.execute(query_devices).all())
    chats: dict[str, str] = {}
    if chat_ids := _numbers(_ids(shown, "groupchat")):
        query_chats = select(GroupChat.id, GroupChat.group).where(
            GroupChat.school_id == school_id, GroupChat.id.in_(chat_ids)
        )
        chats = {str(chat_id): group for chat_id, group in session.execute(query_chats)}
    codes: dict[str, str] = {}
    if code_ids := _numbers(_ids(shown, "code")):
        # A code has no school of its own: its group's is the school's.
        query_codes = (
            select(EnrolmentCode.id, Group.name)
            .join(Group, Group.id == EnrolmentCode.group_id)
            .where(Group.school_id == school_id, EnrolmentCode.id.in_(code_ids))
        )
        codes = {str(code_id): group for code_id, group in session.execute(query_codes)}
    return Names(lessons, devices, chats, codes)


def actor(value: str, names: Names, t: Translate) -> str:
    """Who acted: a user's name, a device's pseudonym, the command line."""
    if value == "cli":
        return t("command line")
    kind, _, rest = value.partition(":")
    if kind == "user":
        return rest
    if kind == "device":
        return _device(rest, names, t)
    return value


def _device(device_id: str, names: Names, t: Translate) -> str:
    if device_id not in names.devices:
        # Erased devices keep their lines (with the pseudonym), as docs/web.md promises.
        return t("device %(id)s (erased)", id=device_id)
    label = names.devices[device_id]
    if label:
        return t("device %(id)s (%(label)s)", id=device_id, label=label)
    return t("device %(id)s", id=device_id)


def obj(value: str | None, names: Names, t: Translate) -> str:
    """What was acted on, in words; a value of a shape this does not know is shown as stored."""
    if not value:
        return ""
    if value == "password":
        return t("with a password")
    if value == "oidc":
        return t("with the school account")
    kind, _, rest = value.partition(":")
    if kind == "lesson":
        return _lesson(rest, names, t)
    if kind == "device":
        return _device(rest, names, t)
    if kind == "user":
        return t("user %(name)s", name=rest)
    if kind == "school":
        return t("the school")
    if kind == "group":
        return t("group %(name)s", name=rest)
    if kind == "groupchat":
        if rest in names.chats:
            return t("group chat %(id)s of %(group)s", id=rest, group=names.chats[rest])
        return t("group chat %(id)s", id=rest)
    if kind == "code":
        if rest in names.codes:
            return t("enrolment code %(id)s for %(group)s", id=rest, group=names.codes[rest])
        return t("enrolment code %(id)s", id=rest)
    if kind == "source":
        return t("timetable source %(name)s", name=rest)
    if kind == "holidays":
        if rest.startswith("shared:"):
            return t("shared holidays %(years)s", years=rest.removeprefix("shared:"))
        return t("holidays %(years)s", years=rest)
    if kind == "audit":
        return _selection(rest, t)
    first, dots, last = value.partition("..")
    if dots and _is_day(first) and _is_day(last):
        return t("lessons from %(first)s to %(last)s", first=first, last=last)
    return value


def _lesson(lesson_id: str, names: Names, t: Translate) -> str:
    lesson = names.lessons.get(lesson_id)
    if lesson is None:
        return t("lesson %(id)s (no longer stored)", id=lesson_id)
    if lesson.subject:
        return t(
            "lesson %(group)s %(subject)s, %(start)s",
            group=lesson.group,
            subject=lesson.subject,
            start=lesson.start,
        )
    return t("lesson %(group)s, %(start)s", group=lesson.group, start=lesson.start)


def _selection(query: str, t: Translate) -> str:
    """The filters of an exported audit log (``audit:from=…&action=…``), in words."""
    parts = []
    for key, value in parse_qsl(query):
        if key == "person":
            parts.append(t("person %(name)s", name=value.partition(":")[2] or value))
        elif key == "action":
            action = t(labels.label(labels.AUDIT_ACTIONS, value))
            parts.append(t("action %(action)s", action=action))
        elif key == "from":
            parts.append(t("from %(day)s", day=value))
        elif key == "to":
            parts.append(t("to %(day)s", day=value))
    return (
        t("audit log: %(selection)s", selection=", ".join(parts))
        if parts
        else t("the whole audit log")
    )


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
