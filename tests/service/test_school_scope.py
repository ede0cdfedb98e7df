"""Every lookup by name or id stays inside the actor's school (issue 13): the command line for
the school named with ``--school``, SSO for the one user a verified e-mail belongs to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.cli.main import main
from service.devices import enrolment
from service.lessons import records as lessons
from service.models import ApiToken, AuditEntry, Device, Permission, User
from service.schools import registry as schools
from service.web import oidc
from tests.support.clock import LESSON_END, LESSON_START
from tests.support.collector import enrol
from tests.support.schools import found_school

OTHER = "Andere school"


@pytest.fixture
def db_url(db_url: str) -> str:
    """The test's database with the school the commands work on: none founds one by itself."""
    return found_school(db_url)


def run(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def _other_school(sessions: sessionmaker[Session], password_hash: str) -> dict[str, str]:
    """The CLI's default school, and another school with a teacher, a lesson and a device;
    returns the ids the commands are given."""
    with sessions.begin() as session:
        schools.school(session)
        other = schools.school(session, OTHER)
        zed = User(
            school_id=other.id,
            username="zed",
            role="teacher",
            password_hash=password_hash,
            created_at=LESSON_START,
        )
        session.add(zed)
        theirs = lessons.add_lesson(
            session, school=other, group="3B", start=LESSON_START, end=LESSON_END, now=LESSON_START
        )
        code = enrolment.create_code(
            session,
            actor=Actor.operator(other),
            group="3B",
            uses=1,
            lifetime=timedelta(days=1),
            now=LESSON_START,
        )
        device = enrol(session, code, LESSON_START).device_id
        return {"theirs": theirs.id, "device": device}


def _their_rows(sessions: sessionmaker[Session]) -> list[str]:
    """The other school's devices, audit log, and every permission and token, as text."""
    with sessions.begin() as session:
        other = schools.school(session, OTHER).id
        queries = [
            select(Device.__table__).where(Device.school_id == other),
            select(AuditEntry.__table__).where(AuditEntry.school_id == other),
            select(Permission.__table__),
            select(ApiToken.__table__),
        ]
        return sorted(repr(tuple(row)) for query in queries for row in session.execute(query))


LESSON_AT = ["--group", "3B", "--start", "2026-11-24T10:00", "--end", "2026-11-24T10:50"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # Names are looked up in the school the command works on.
        (["lessons", "add", *LESSON_AT, "--teacher", "zed"], "no user 'zed' in School"),
        (["tokens", "create", "--username", "zed"], "no user 'zed' in School"),
        (["tokens", "revoke", "--username", "zed"], "no user 'zed' in School"),
        # Ids of another school's lessons and devices are not found either.
        (["permissions", "grant", "{theirs}", "--categories", "social_media"], "no lesson"),
        (["permissions", "withdraw", "{theirs}", "1"], "no lesson"),
        (["report", "{theirs}", "--json"], "no lesson"),
        (["devices", "retire", "{device}"], "no device"),
        (["devices", "export", "{device}"], "no device"),
        (["devices", "erase", "{device}"], "no device"),
    ],
)
def test_the_command_line_does_not_reach_into_another_school(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    sessions: sessionmaker[Session],
    password_hash: str,
    argv: list[str],
    message: str,
) -> None:
    """A user, lesson or device of another school is refused as unknown, and nothing is done."""
    ids = _other_school(sessions, password_hash)
    before = _their_rows(sessions)
    code, out, err = run(capsys, db_url, *(a.format(**ids) for a in argv))
    assert (code, out) == (1, "") and message in err
    assert _their_rows(sessions) == before


def test_the_command_line_finds_the_named_schools_own_users(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    sessions: sessionmaker[Session],
    password_hash: str,
) -> None:
    """With ``--school`` naming the other school, its teacher and device are found."""
    ids = _other_school(sessions, password_hash)
    code, lesson, _ = run(
        capsys, db_url, "lessons", "add", *LESSON_AT, "--teacher", "zed", "--school", OTHER
    )
    assert code == 0 and lesson.startswith("l_")
    assert run(capsys, db_url, "devices", "retire", ids["device"], "--school", OTHER)[0] == 0


# (school, username, e-mail) of the accounts on the collector.
ANN = ("A", "ann", "ann@a.example")
BOB = ("B", "bob", "bob@b.example")


V = {"iss": "https://idp.example", "sub": "s1", "email_verified": True}


@pytest.mark.parametrize(
    ("accounts", "claims", "expected"),
    [
        # The provider is configured for school A: its one account with the verified e-mail.
        ([ANN, BOB], {**V, "email": "ann@a.example"}, "ann"),
        ([ANN, BOB], {**V, "email": "Ann@A.Example"}, "ann"),
        ([ANN, BOB], {**V, "email": "carol@a.example"}, None),
        # Another school's account is never matched, by e-mail, UPN or user name.
        ([ANN, BOB], {**V, "email": "bob@b.example"}, None),
        ([ANN, BOB], {**V, "preferred_username": "bob@b.example"}, None),
        ([("B", "ann@a.example", None)], {**V, "email": "ann@a.example"}, None),
        # The same e-mail in another school does not stop school A's account.
        ([ANN, ("B", "ann2", "ANN@a.example")], {**V, "email": "ann@a.example"}, "ann"),
        # A UPN is not a verified e-mail.
        ([ANN], {**V, "preferred_username": "ann@a.example"}, None),
        # Unverified, not marked verified, or absent: nobody (the "nOAuth" pattern).
        ([ANN], {**V, "email": "ann@a.example", "email_verified": False}, None),
        ([ANN], {"iss": "https://idp.example", "sub": "s1", "email": "ann@a.example"}, None),
        ([ANN], {**V}, None),
    ],
)
def test_sso_links_only_a_verified_email_in_the_configured_school(
    sessions: sessionmaker[Session],
    password_hash: str,
    accounts: list[tuple[str, str, str | None]],
    claims: dict[str, Any],
    expected: str | None,
) -> None:
    """A first SSO sign-in links the one account of the provider's school with the verified
    e-mail, and binds it to the token's issuer and subject; nothing else picks an account."""
    with sessions.begin() as session:
        for school, username, email in accounts:
            session.add(
                User(
                    school_id=schools.school(session, school).id,
                    username=username,
                    role="teacher",
                    password_hash=password_hash,
                    created_at=LESSON_START,
                    email=email,
                )
            )
        session.flush()
        found, linked = oidc.user_for_claims(session, claims, school=schools.school(session, "A"))
        assert (found.username if found else None) == expected
        assert linked is (found is not None)
        if found is not None:
            assert (found.sso_issuer, found.sso_subject) == ("https://idp.example", "s1")
