"""The group-chat register (issue 7): teachers declare class group chats, the check of
``policies.groupchat`` decides what breaks articles B.1 and A.6, and the findings are stored
with the chat.

Who sees what: a teacher (and a leader or admin, for the chats they run themselves) sees and
edits their own chats; leaders and admins see every chat of their school; admins may also
delete any of them; IT staff see none. A chat of another school, or one the viewer may not
see, is ``NotFound``.

The findings depend on the declaration, the platform catalog, the school's closed platform and
its policy. Each chat stores a digest of the last three (``checked_against``); a chat whose
digest differs from the current one is checked again before it is shown, and changing the
school's closed platform re-checks all its chats at once.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.groupchat import (
    Chat,
    PlatformCatalog,
    active_findings,
    check_chat,
    load_platforms,
    validate_chat,
    validate_school,
)
from policies.groupchat import School as SchoolSetting
from policies.model import Lang
from policies.wire import format_time
from service import access, audit
from service.access import Ability
from service.actors import Actor
from service.errors import Conflict, Forbidden, NotFound
from service.models import GroupChat, School, User
from service.schools import policy as policy_cache

SEES_OWN = access.roles_with(Ability.STAFF_PAGES)
SEES_SCHOOL = access.roles_with(Ability.SCHOOL_OVERVIEW)
DELETES_ANY = access.roles_with(Ability.ADMINISTER)


@functools.cache
def shipped_catalog() -> PlatformCatalog:
    """The platform catalog shipped with this version, read once per process."""
    return load_platforms()


def check_key(school: School, catalog: PlatformCatalog) -> str:
    """A digest of everything a chat's findings depend on besides the chat itself."""
    policy_digest = policy_cache.for_school(school).digest
    text = f"{catalog.digest}|{school.closed_platform or ''}|{policy_digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def as_chat(row: GroupChat) -> Chat:
    return Chat(
        group=row.group,
        platform=row.platform,
        account=row.account,  # type: ignore[arg-type]
        purposes=frozenset(row.purposes),  # type: ignore[arg-type]
        pupils_in_class=row.pupils_in_class,
        pupils_in_chat=row.pupils_in_chat,
        youngest_age=row.youngest_age,
        parental_consent=row.parental_consent,
        alternative=row.alternative,  # type: ignore[arg-type]
    )


def findings_for(chat: Chat, school: School, catalog: PlatformCatalog) -> list[dict[str, Any]]:
    """The chat's active findings as stored: code, rule, article, severity, both explanations."""
    policy = policy_cache.policy_of(school)
    # Not validated again: a platform the catalog since dropped must not stop the check.
    school_setting = SchoolSetting(closed_platform=school.closed_platform)
    return [
        {
            "code": f.code,
            "rule": f.rule,
            "article": f.article,
            "severity": f.severity,
            "explanation": {"nl": f.explanation.nl, "en": f.explanation.en},
        }
        for f in active_findings(check_chat(chat, school_setting, catalog), policy)
    ]


def recheck(
    row: GroupChat, school: School, catalog: PlatformCatalog, *, now: datetime, force: bool = False
) -> bool:
    """Check the chat again when what it was checked against changed; True when it ran."""
    key = check_key(school, catalog)
    if not force and row.checked_against == key:
        return False
    row.findings = findings_for(as_chat(row), school, catalog)
    row.checked_at = now
    row.checked_against = key
    return True


def recheck_school(
    session: Session, school: School, catalog: PlatformCatalog, *, now: datetime
) -> int:
    """Re-check every chat of the school whose inputs changed; how many were checked."""
    rows = session.scalars(select(GroupChat).where(GroupChat.school_id == school.id))
    return sum(recheck(row, school, catalog, now=now) for row in rows)


def school_for(session: Session, viewer: User, roles: tuple[str, ...]) -> School:
    if viewer.role not in roles:
        raise Forbidden("the group-chat register is not open to your role")
    return session.get_one(School, viewer.school_id)


def _visible(session: Session, viewer: User, chat_id: int) -> tuple[GroupChat, School]:
    school = school_for(session, viewer, SEES_OWN)
    row = session.get(GroupChat, chat_id)
    if (
        row is None
        or row.school_id != school.id
        or (viewer.role not in SEES_SCHOOL and row.owner_id != viewer.id)
    ):
        raise NotFound("no such group chat")
    return row, school


def may_edit(viewer: User, row: GroupChat) -> bool:
    return row.owner_id == viewer.id


def may_delete(viewer: User, row: GroupChat) -> bool:
    return row.owner_id == viewer.id or viewer.role in DELETES_ANY


def _refuse_twin(session: Session, owner_id: int, chat: Chat, row_id: int | None) -> None:
    # A replayed form or API call must not register the same chat twice.
    twin = session.scalar(
        select(GroupChat.id).where(
            GroupChat.owner_id == owner_id,
            GroupChat.group == chat.group,
            GroupChat.platform == chat.platform,
        )
    )
    if twin is not None and twin != row_id:
        raise Conflict(
            "you registered a chat of %(group)s on %(platform)s already (number %(number)s)",
            group=chat.group,
            platform=chat.platform,
            number=twin,
        )


def _store(row: GroupChat, chat: Chat) -> None:
    data = chat.to_dict()
    for field, value in data.items():
        setattr(row, field, value)


def register(
    session: Session,
    *,
    viewer: User,
    raw: Mapping[str, Any],
    catalog: PlatformCatalog,
    now: datetime,
) -> GroupChat:
    """Declare a chat; ChatInputError names every bad field and nothing is stored."""
    school = school_for(session, viewer, SEES_OWN)
    chat = validate_chat(raw, catalog)
    _refuse_twin(session, viewer.id, chat, None)
    row = GroupChat(school_id=school.id, owner_id=viewer.id, created_at=now, updated_at=now)
    _store(row, chat)
    recheck(row, school, catalog, now=now, force=True)
    session.add(row)
    session.flush()
    _audit(session, viewer, "groupchat.create", row, now)
    return row


def update(
    session: Session,
    *,
    viewer: User,
    chat_id: int,
    raw: Mapping[str, Any],
    catalog: PlatformCatalog,
    now: datetime,
) -> GroupChat:
    row, school = _visible(session, viewer, chat_id)
    if not may_edit(viewer, row):
        raise Forbidden("only the teacher who registered this chat may change it")
    chat = validate_chat(raw, catalog)
    _refuse_twin(session, row.owner_id, chat, row.id)
    _store(row, chat)
    row.updated_at = now
    recheck(row, school, catalog, now=now, force=True)
    _audit(session, viewer, "groupchat.update", row, now)
    return row


def delete(session: Session, *, viewer: User, chat_id: int, now: datetime) -> None:
    row, _ = _visible(session, viewer, chat_id)
    if not may_delete(viewer, row):
        raise Forbidden("only the teacher who registered this chat, or an admin, may delete it")
    _audit(session, viewer, "groupchat.delete", row, now)
    session.delete(row)


def get(
    session: Session, *, viewer: User, chat_id: int, catalog: PlatformCatalog, now: datetime
) -> GroupChat:
    row, school = _visible(session, viewer, chat_id)
    recheck(row, school, catalog, now=now)
    return row


def listing(
    session: Session,
    *,
    viewer: User,
    catalog: PlatformCatalog,
    now: datetime,
    whole_school: bool = True,
) -> list[GroupChat]:
    """The chats the viewer sees, by group name; re-checked where their inputs changed."""
    school = school_for(session, viewer, SEES_OWN)
    query = select(GroupChat).where(GroupChat.school_id == school.id)
    if viewer.role not in SEES_SCHOOL or not whole_school:
        query = query.where(GroupChat.owner_id == viewer.id)
    rows = list(session.scalars(query.order_by(GroupChat.group, GroupChat.id)))
    for row in rows:
        recheck(row, school, catalog, now=now)
    return rows


def set_closed_platform(
    session: Session,
    *,
    actor: Actor,
    closed_platform: str | None,
    catalog: PlatformCatalog,
    now: datetime,
) -> int:
    """Set the school's closed platform (admins, and the operator) and re-check its chats;
    how many were checked. Every surface comes here, so no surface skips the re-check."""
    access.require(actor, Ability.ADMINISTER)
    school = session.get_one(School, actor.school_id)
    setting = validate_school({"closed_platform": closed_platform}, catalog)
    school.closed_platform = setting.closed_platform
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="school.closed_platform",
        obj=f"school:{school.id}",
        now=now,
        reason=setting.closed_platform or "none",
    )
    return recheck_school(session, school, catalog, now=now)


def owners(session: Session, rows: list[GroupChat]) -> dict[int, str]:
    ids = {r.owner_id for r in rows}
    if not ids:
        return {}
    found = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return dict(found.all())


def to_json(
    row: GroupChat, *, viewer: User, owner: str, catalog: PlatformCatalog, lang: Lang
) -> dict[str, Any]:
    platform = catalog.get(row.platform)
    findings = [{**f, "explanation": f["explanation"][lang]} for f in row.findings]
    return {
        "id": row.id,
        **as_chat(row).to_dict(),
        "platform_name": platform.name if platform else row.platform,
        "owner": owner,
        "created_at": format_time(row.created_at),
        "updated_at": format_time(row.updated_at),
        "checked_at": format_time(row.checked_at),
        "violations": sum(f["severity"] == "violation" for f in findings),
        "warnings": sum(f["severity"] == "warning" for f in findings),
        "findings": findings,
        "may_edit": may_edit(viewer, row),
        "may_delete": may_delete(viewer, row),
    }


def _audit(session: Session, viewer: User, action: str, row: GroupChat, now: datetime) -> None:
    audit.record(
        session,
        actor=Actor.of_user(viewer),
        school_id=row.school_id,
        action=action,
        obj=f"groupchat:{row.id}",
        now=now,
    )
