"""The register's use cases on SQLite and PostgreSQL: what is stored, the re-check when the
school's closed platform, the catalog or the policy change, who may do what, and the audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from policies.groupchat import ChatInputError, load_platforms, parse_platforms
from policies.groupchat.platforms import SHIPPED_FILE
from service import audit
from service.actors import Actor
from service.errors import Conflict, Forbidden, NotFound
from service.groupchats import register as groupchats
from service.models import GroupChat, School
from tests.groupchats.gc_helpers import NOW, Staff, add_staff, chat, user

CATALOG = load_platforms()
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def staff(sessions: sessionmaker[Session], password_hash: str) -> Staff:
    return add_staff(sessions, password_hash)


def register(sessions: sessionmaker[Session], uid: int, **changes: Any) -> int:
    with sessions.begin() as s:
        row = groupchats.register(
            s, viewer=user(s, uid), raw=chat(**changes), catalog=CATALOG, now=NOW
        )
        return row.id


def stored_codes(sessions: sessionmaker[Session], chat_id: int) -> list[str]:
    with sessions.begin() as s:
        return [f["code"] for f in s.get_one(GroupChat, chat_id).findings]


def test_the_table_holds_declared_facts_and_findings_only(
    sessions: sessionmaker[Session],
) -> None:
    """group_chats has the declaration's counts and flags, never content, names or numbers."""
    with sessions.begin() as s:
        columns = {c["name"] for c in inspect(s.get_bind()).get_columns("group_chats")}
    assert columns == {
        "id", "school_id", "owner_id", "group", "platform", "account", "purposes",
        "pupils_in_class", "pupils_in_chat", "youngest_age", "parental_consent", "alternative",
        "created_at", "updated_at", "findings", "checked_at", "checked_against",
    }  # fmt: skip
    for word in ("member", "phone", "message", "content", "name", "text", "number"):
        assert not [c for c in columns if word in c], word


@pytest.mark.parametrize(
    "extra",
    [
        {"members": ["Sanne", "Daan"]},
        {"phone_numbers": ["+31612345678"]},
        {"messages": ["Morgen geen les"]},
        {"member_names": "Sanne"},
    ],
)
def test_extra_fields_are_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session], staff: Staff, extra: dict[str, Any]
) -> None:
    """A chat sent with member names, phone numbers or messages is refused as a whole."""
    with pytest.raises(ChatInputError) as caught, sessions.begin() as s:
        groupchats.register(
            s, viewer=user(s, staff.ann), raw={**chat(), **extra}, catalog=CATALOG, now=NOW
        )
    assert caught.value.fields == ("chat",)
    assert next(iter(extra)) in caught.value.messages("en")["chat"]
    with sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(GroupChat)) == 0


@pytest.mark.parametrize(
    ("platform", "before", "after", "codes_before", "codes_after"),
    [
        # Adopting a closed platform flags messaging and social media at once.
        ("telegram", None, "parro", [], ["closed_platform_available"]),
        ("instagram", None, "social_schools", [], ["closed_platform_available"]),
        ("whatsapp", None, "parro", ["whatsapp"], ["whatsapp", "closed_platform_available"]),
        # Another closed school platform is at risk, not broken.
        ("magister", None, "somtoday", [], ["not_school_platform"]),
        # The school's own platform is what B.1 asks for.
        ("parro", None, "parro", [], []),
        # Dropping the closed platform lifts the finding again.
        ("telegram", "parro", None, ["closed_platform_available"], []),
        ("magister", "somtoday", "magister", ["not_school_platform"], []),
    ],
)
def test_changing_the_closed_platform_rechecks_every_stored_chat(
    sessions: sessionmaker[Session],
    staff: Staff,
    platform: str,
    before: str | None,
    after: str | None,
    codes_before: list[str],
    codes_after: list[str],
) -> None:
    """The stored findings follow the school's closed platform as soon as it is saved."""
    with sessions.begin() as s:
        s.get_one(School, user(s, staff.root).school_id).closed_platform = before
    mine = register(sessions, staff.ann, platform=platform, youngest_age=16)
    theirs = register(sessions, staff.bob, platform=platform, youngest_age=16, group="4A")
    assert stored_codes(sessions, mine) == codes_before
    with sessions.begin() as s:
        n = groupchats.set_closed_platform(
            s,
            actor=Actor.of_user(user(s, staff.root)),
            closed_platform=after,
            catalog=CATALOG,
            now=LATER,
        )
    assert n == 2
    for chat_id in (mine, theirs):
        assert stored_codes(sessions, chat_id) == codes_after
        with sessions.begin() as s:
            assert s.get_one(GroupChat, chat_id).checked_at == LATER


def _catalog(edit: Callable[[str], str]) -> Any:
    shipped = (resources.files("policies") / "data" / SHIPPED_FILE).read_text(encoding="utf-8")
    return parse_platforms(edit(shipped), SHIPPED_FILE)


def _drop_telegram(text: str) -> str:
    start = text.index("[platform.telegram]")
    end = text.index("[platform.", start + 1)
    return text[:start] + text[end:]


@pytest.mark.parametrize(
    ("edit", "codes"),
    [
        # Telegram raises its age to 18: a class whose youngest is 16 is now too young.
        (
            lambda t: t.replace(
                '[platform.telegram]\nname = "Telegram"\nkind = "messaging"\n'
                "closed_school_platform = false\nminimum_age = 16",
                '[platform.telegram]\nname = "Telegram"\nkind = "messaging"\n'
                "closed_school_platform = false\nminimum_age = 18",
            ),
            ["below_minimum_age"],
        ),
        # Telegram leaves the catalog: the check says so instead of failing.
        (_drop_telegram, ["platform_not_in_catalog"]),
    ],
)
def test_a_changed_catalog_rechecks_stored_chats_when_they_are_read(
    sessions: sessionmaker[Session],
    staff: Staff,
    edit: Callable[[str], str],
    codes: list[str],
) -> None:
    """A chat checked against an older catalog is checked again, and stored, on its next read."""
    chat_id = register(sessions, staff.ann, platform="telegram", youngest_age=16)
    assert stored_codes(sessions, chat_id) == []
    changed = _catalog(edit)
    assert changed.digest != CATALOG.digest
    with sessions.begin() as s:
        listed = groupchats.listing(s, viewer=user(s, staff.lea), catalog=changed, now=LATER)
        assert [f["code"] for f in listed[0].findings] == codes
    assert stored_codes(sessions, chat_id) == codes
    with sessions.begin() as s:
        row = s.get_one(GroupChat, chat_id)
        school = s.get_one(School, row.school_id)
        assert row.checked_against == groupchats.check_key(school, changed)
        # Read again with the same catalog: nothing to do.
        assert not groupchats.recheck(row, school, changed, now=LATER)


def test_switching_a_rule_off_in_the_policy_drops_its_findings_on_read(
    sessions: sessionmaker[Session], staff: Staff
) -> None:
    """A school that switches B.1 off keeps only the A.6 finding of a private WhatsApp chat."""
    chat_id = register(sessions, staff.ann, platform="whatsapp", account="private")
    assert stored_codes(sessions, chat_id) == ["whatsapp", "private_account"]
    with sessions.begin() as s:
        school = s.get_one(School, user(s, staff.ann).school_id)
        school.policy_override = 'version = 1\n\n[rules."b1-group-chat"]\nenabled = false\n'
    with sessions.begin() as s:
        row = groupchats.get(
            s, viewer=user(s, staff.ann), chat_id=chat_id, catalog=CATALOG, now=LATER
        )
        assert [f["code"] for f in row.findings] == ["private_account"]


def test_changing_a_chat_rechecks_it(sessions: sessionmaker[Session], staff: Staff) -> None:
    """Moving a chat from WhatsApp to Signal clears the WhatsApp finding."""
    chat_id = register(sessions, staff.ann, platform="whatsapp")
    with sessions.begin() as s:
        groupchats.update(
            s,
            viewer=user(s, staff.ann),
            chat_id=chat_id,
            raw=chat(platform="signal"),
            catalog=CATALOG,
            now=LATER,
        )
    assert stored_codes(sessions, chat_id) == []


def _get(s: Session, viewer: Any, chat_id: int) -> None:
    groupchats.get(s, viewer=viewer, chat_id=chat_id, catalog=CATALOG, now=NOW)


def _update(s: Session, viewer: Any, chat_id: int) -> None:
    raw = chat(pupils_in_chat=20)
    groupchats.update(s, viewer=viewer, chat_id=chat_id, raw=raw, catalog=CATALOG, now=NOW)


def _delete(s: Session, viewer: Any, chat_id: int) -> None:
    groupchats.delete(s, viewer=viewer, chat_id=chat_id, now=NOW)


@pytest.mark.parametrize(
    ("who", "do", "expected"),
    [
        # The teacher who registered it sees, changes and deletes it.
        ("ann", _get, None),
        ("ann", _update, None),
        ("ann", _delete, None),
        # Another teacher does not know it exists.
        ("bob", _get, NotFound),
        ("bob", _update, NotFound),
        ("bob", _delete, NotFound),
        # Leadership sees the whole school but changes only its own chats.
        ("lea", _get, None),
        ("lea", _update, Forbidden),
        ("lea", _delete, Forbidden),
        # Admins see everything and may clear out a chat, not rewrite it.
        ("root", _get, None),
        ("root", _update, Forbidden),
        ("root", _delete, None),
        # IT staff have no part in the register; another school's staff do not see it.
        ("ict", _get, Forbidden),
        ("other_school_teacher", _get, NotFound),
    ],
)
def test_who_may_see_change_and_delete_a_chat(
    sessions: sessionmaker[Session],
    staff: Staff,
    who: str,
    do: Callable[[Session, Any, int], None],
    expected: type[Exception] | None,
) -> None:
    """The register's access rules, per role and ownership."""
    chat_id = register(sessions, staff.ann)
    uid = getattr(staff, who)
    if expected is None:
        with sessions.begin() as s:
            do(s, user(s, uid), chat_id)
    else:
        with pytest.raises(expected), sessions.begin() as s:
            do(s, user(s, uid), chat_id)


@pytest.mark.parametrize(
    ("who", "sees"),
    [("ann", ["3B"]), ("bob", ["4A"]), ("lea", ["3B", "4A"]), ("root", ["3B", "4A"])],
)
def test_teachers_list_their_own_chats_and_leadership_the_school(
    sessions: sessionmaker[Session], staff: Staff, who: str, sees: list[str]
) -> None:
    """The list: a teacher's own chats; for leaders and admins every chat of the school."""
    register(sessions, staff.ann)
    register(sessions, staff.bob, group="4A")
    with sessions.begin() as s:
        rows = groupchats.listing(s, viewer=user(s, getattr(staff, who)), catalog=CATALOG, now=NOW)
        assert [r.group for r in rows] == sees


def test_creating_changing_and_deleting_are_audited(
    sessions: sessionmaker[Session], staff: Staff
) -> None:
    """Each change to the register leaves an audit entry naming who and which chat."""
    chat_id = register(sessions, staff.ann)
    with sessions.begin() as s:
        _update(s, user(s, staff.ann), chat_id)
    with sessions.begin() as s:
        _delete(s, user(s, staff.ann), chat_id)
    with sessions.begin() as s:
        rows = [(e.actor, e.action, e.object) for e in audit.entries(s)]
    assert [r for r in rows if r[1].startswith("groupchat.")] == [
        ("user:ann", "groupchat.create", f"groupchat:{chat_id}"),
        ("user:ann", "groupchat.update", f"groupchat:{chat_id}"),
        ("user:ann", "groupchat.delete", f"groupchat:{chat_id}"),
    ]


def test_a_replayed_registration_is_refused(sessions: sessionmaker[Session], staff: Staff) -> None:
    """The same group on the same platform twice is one chat: the replay gets a conflict."""
    register(sessions, staff.ann)
    with pytest.raises(Conflict), sessions.begin() as s:
        groupchats.register(s, viewer=user(s, staff.ann), raw=chat(), catalog=CATALOG, now=NOW)
    with sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(GroupChat)) == 1


def test_only_a_closed_platform_can_be_the_schools(
    sessions: sessionmaker[Session], staff: Staff
) -> None:
    """Setting Telegram as the school's closed platform is refused and changes nothing."""
    with pytest.raises(ChatInputError) as caught, sessions.begin() as s:
        groupchats.set_closed_platform(
            s,
            actor=Actor.of_user(user(s, staff.root)),
            closed_platform="telegram",
            catalog=CATALOG,
            now=NOW,
        )
    assert caught.value.fields == ("closed_platform",)
    with sessions.begin() as s:
        assert s.get_one(School, user(s, staff.root).school_id).closed_platform is None
    with pytest.raises(Forbidden), sessions.begin() as s:
        groupchats.set_closed_platform(
            s,
            actor=Actor.of_user(user(s, staff.lea)),
            closed_platform="parro",
            catalog=CATALOG,
            now=NOW,
        )


def test_stored_findings_are_the_pure_checks(sessions: sessionmaker[Session], staff: Staff) -> None:
    """What the register stores is exactly what check_chat says, in both languages."""
    from policies.groupchat import School as Setting
    from policies.groupchat import check_chat, validate_chat

    raw = chat(platform="tiktok", youngest_age=12, parental_consent=False, pupils_in_chat=20,
               alternative="none", account="private", purposes=["other"])  # fmt: skip
    chat_id = register(sessions, staff.ann, **raw)
    expected = check_chat(validate_chat(raw, CATALOG), Setting(), CATALOG)
    with sessions.begin() as s:
        stored = s.get_one(GroupChat, chat_id).findings
    assert [(f["code"], f["article"], f["severity"]) for f in stored] == [
        (f.code, f.article, f.severity) for f in expected
    ]
    assert [f["explanation"] for f in stored] == [
        {"nl": f.explanation.nl, "en": f.explanation.en} for f in expected
    ]
    assert len(stored) == 5
