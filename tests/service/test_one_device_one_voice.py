"""Hostile devices (issue 14, parts 3 and 7): made-up devices cannot uncover one pupil's figures,
a leaked enrolment code can be revoked and its devices retired, and text a device sends cannot
forge what IT reads at the command line. Every database test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from policies.wire import WireError, parse_summary
from service import audit, credentials
from service.accounts import users
from service.actors import Actor
from service.cli.main import main
from service.cli.text import shown
from service.devices import enrolment
from service.devices import registry as devices
from service.errors import (
    Conflict,
    EnrolmentCodeInvalid,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unauthorized,
)
from service.ingest import summaries as ingest
from service.models import Device, EnrolmentCode, Lesson
from service.reports import totals as lesson_totals
from service.reports.lesson_report import lesson_report
from service.reports.numbers import Reporter, counted_devices
from service.schools import registry as schools
from tests.support.clock import LESSON_START, FakeClock
from tests.support.collector import World, enrol, finding, summary

PUPIL = "ab" * 32


def _report(session: Session, world: World, clock: FakeClock) -> dict[str, dict[str, object]]:
    """The 3B lesson's family rows as the admin at the command line reads them."""
    school = schools.school(session)
    report = lesson_report(
        session, lesson_id=world.lesson_3b, actor=Actor.operator(school), now=clock()
    )
    return {r["family"]: r for r in report["families"]}


def _send(session: Session, token: str, world: World, family: str, clock: FakeClock) -> None:
    device = devices.device_for_token(session, token)
    results = ingest.ingest_batch(
        session,
        device=device,
        items=[summary(world.lesson_3b, [finding(family, 300)])],
        now=clock(),
        future_tolerance=timedelta(hours=1),
    )
    assert results[0].status == "accepted"


def _code_id(session: Session, code: str) -> int:
    return session.scalars(
        select(EnrolmentCode.id).where(EnrolmentCode.code_hash == credentials.code_hash(code))
    ).one()


def _operator(session: Session) -> Actor:
    return Actor.operator(schools.school(session))


# --- one device, one voice -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_fingerprint", "extra_delay"),
    [
        (None, timedelta(minutes=10)),  # made up with the class code during the lesson
        ("cd" * 32, timedelta(minutes=10)),  # with a fingerprint of their own, still too late
        (PUPIL, timedelta(0)),  # clones of the pupil's laptop, enrolled in time
    ],
)
def test_extra_devices_do_not_lift_one_pupils_count(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    extra_fingerprint: str | None,
    extra_delay: timedelta,
) -> None:
    """A pupil enrolls two more devices with the class code and reports TikTok from all three:
    the row still reads "fewer than 3", so the pupil's own seconds stay hidden."""
    with sessions.begin() as session:
        own = enrol(session, world.code_3b, clock(), PUPIL).token
        _send(session, own, world, "tiktok", clock)
    clock.advance(extra_delay)
    with sessions.begin() as session:
        for _ in range(2):
            extra = enrol(session, world.code_3b, clock(), extra_fingerprint).token
            _send(session, extra, world, "tiktok", clock)
    with sessions.begin() as session:
        row = _report(session, world, clock).get("tiktok")
    assert row is None or (row["devices"] is None and row["seconds"] is None)


def test_kept_totals_count_the_same_devices_as_the_report(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """The trend and the attention list read kept totals: devices made up during the lesson do not
    count there either, so no page sums them into one pupil's figures."""
    with sessions.begin() as session:
        _send(session, enrol(session, world.code_3b, clock(), PUPIL).token, world, "tiktok", clock)
    clock.advance(timedelta(minutes=10))
    with sessions.begin() as session:
        for _ in range(2):
            _send(session, enrol(session, world.code_3b, clock()).token, world, "tiktok", clock)
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, world.lesson_3b)
        totals = lesson_totals.for_lessons(session, [lesson])[world.lesson_3b]
    assert totals["devices_reporting"] == 1
    assert [c["devices"] for c in totals["categories"]] == [1]


def test_real_pupils_enrolled_in_time_are_still_counted(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Three devices of their own, enrolled before the lesson, make a row that is shown."""
    with sessions.begin() as session:
        for i in range(3):
            token = enrol(session, world.code_3b, clock(), f"{i:02x}" * 32).token
            _send(session, token, world, "tiktok", clock)
    with sessions.begin() as session:
        assert _report(session, world, clock)["tiktok"]["devices"] == 3


@pytest.mark.parametrize(
    ("enrolled", "fingerprint", "counted"),
    [
        # enrolled by the start: counts
        (LESSON_START - timedelta(days=3), "aa", True),
        (LESSON_START, None, True),
        # enrolled during the lesson: does not
        (LESSON_START + timedelta(seconds=1), "aa", False),
        (LESSON_START + timedelta(minutes=49), None, False),
        # a fingerprint another active device has: does not
        (LESSON_START - timedelta(days=3), "shared", False),
    ],
)
def test_counted_devices(enrolled: datetime, fingerprint: str | None, counted: bool) -> None:
    """Who counts as a pupil: enrolled by the lesson's start, fingerprint not shared."""
    got = counted_devices(
        [Reporter("d1", enrolled, fingerprint)], lesson_start=LESSON_START, shared={"shared"}
    )
    assert got == ({"d1"} if counted else set())


# --- enrolment codes: list, revoke, retire their devices -------------------------------------


def test_a_revoked_code_enrols_nothing(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A leaked code with uses left is revoked: the next enrolment with it is refused."""
    with sessions.begin() as session:
        enrol(session, world.code_3b, clock())
        code_id = _code_id(session, world.code_3b)
        enrolment.revoke_code(session, actor=_operator(session), code_id=code_id, now=clock())
    with sessions.begin() as session, pytest.raises(EnrolmentCodeInvalid):
        enrol(session, world.code_3b, clock())
    with sessions.begin() as session:
        assert [e.object for e in audit.entries(session, action="enroll_code.revoke")] == [
            f"code:{code_id}"
        ]
        with pytest.raises(Conflict):
            enrolment.revoke_code(session, actor=_operator(session), code_id=code_id, now=clock())


def test_retiring_a_codes_devices_retires_exactly_those(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Every device the leaked code enrolled loses its token; another code's device keeps it."""
    with sessions.begin() as session:
        leaked = [enrol(session, world.code_3b, clock()).token for _ in range(2)]
        other = enrol(session, world.code_4a, clock()).token
        code_id = _code_id(session, world.code_3b)
    with sessions.begin() as session:
        n = enrolment.retire_code_devices(
            session, actor=_operator(session), code_id=code_id, now=clock()
        )
    assert n == 2
    with sessions.begin() as session:
        for token in leaked:
            with pytest.raises(Unauthorized):
                devices.device_for_token(session, token)
        assert not devices.device_for_token(session, other).retired
        assert len(audit.entries(session, action="enroll_code.retire_devices")) == 1


def test_codes_are_listed_with_their_devices(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """The listing shows how many devices each code enrolled and how many are still active."""
    with sessions.begin() as session:
        ids = [enrol(session, world.code_3b, clock()).device_id for _ in range(3)]
        devices.retire(session, actor=_operator(session), device_id=ids[0], now=clock())
    with sessions.begin() as session:
        rows = {r.group: r for r in enrolment.list_codes(session, actor=_operator(session))}
    assert (rows["3B"].devices, rows["3B"].active_devices, rows["3B"].uses_left) == (3, 2, 47)
    assert (rows["4A"].devices, rows["4A"].active_devices) == (0, 0)
    assert rows["3B"].active(clock())


@pytest.mark.parametrize(("who", "refused"), [("root", None), ("ann", Forbidden), ("ict", None)])
def test_who_may_manage_codes(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    who: str,
    refused: type[Exception] | None,
) -> None:
    """Admins and IT list and revoke codes (IT enrols the devices; it reads nothing of
    lessons); teachers may not."""
    with sessions.begin() as session:
        school = schools.school(session)
        actor = Actor.of_user(users.by_username(session, who, school=school))
        code_id = _code_id(session, world.code_3b)
        if refused is None:
            enrolment.revoke_code(session, actor=actor, code_id=code_id, now=clock())
            listed = {r.id: r for r in enrolment.list_codes(session, actor=actor)}
            assert listed[code_id].revoked_at is not None
        else:
            with pytest.raises(refused):
                enrolment.revoke_code(session, actor=actor, code_id=code_id, now=clock())
            with pytest.raises(refused):
                enrolment.list_codes(session, actor=actor)


def test_another_schools_code_is_not_found(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Another school's operator can neither revoke the code nor retire its devices."""
    with sessions.begin() as session:
        code_id = _code_id(session, world.code_3b)
        other = Actor.operator(schools.school(session, "Other school"))
        with pytest.raises(NotFound):
            enrolment.revoke_code(session, actor=other, code_id=code_id, now=clock())
        with pytest.raises(NotFound):
            enrolment.retire_code_devices(session, actor=other, code_id=code_id, now=clock())
        assert enrolment.list_codes(session, actor=other) == []


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], db_url: str) -> Callable[..., str]:
    """Run ``lessonwatch-service`` on the test's database; what it printed, once it succeeded."""

    def run(*argv: str) -> str:
        assert main([*argv, "--db", db_url]) == 0
        return capsys.readouterr().out

    return run


def test_cli_revokes_a_code_and_retires_its_devices(
    cli: Callable[..., str], sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """``enroll-code revoke ID --retire-devices`` stops the code and its devices at once."""
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
        code_id = _code_id(session, world.code_3b)
    out = cli("enroll-code", "revoke", str(code_id), "--retire-devices")
    assert out.strip() == "devices retired: 1"
    listed = {r["id"]: r for r in json.loads(cli("enroll-code", "list", "--json"))}
    assert listed[code_id]["revoked_at"] is not None and not listed[code_id]["active"]
    assert (listed[code_id]["devices"], listed[code_id]["active_devices"]) == (1, 0)
    with sessions.begin() as session:
        with pytest.raises(Unauthorized):
            devices.device_for_token(session, token)
        with pytest.raises(EnrolmentCodeInvalid):
            enrol(session, world.code_3b, clock())


# --- text from devices ---------------------------------------------------------------------

HOSTILE = [
    "\x1b[1A\x1b[2Kd_forged\t3B\tok",  # ANSI: up a line, erase it, write a row of one's own
    "pupil\nd_forged\t3B",  # a new line is a new row
    "evil\u202eko",  # right-to-left override: the text reads other than it is
    "zero\u200bwidth",  # format character: two labels that look the same
    "nul\x00",
]


@pytest.mark.parametrize("field", ["label", "agent_version", "platform", "code"])
@pytest.mark.parametrize("text", HOSTILE)
def test_enrolment_refuses_control_characters(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, field: str, text: str
) -> None:
    """Every string a device sends at enrolment is refused with control characters in it, and
    no device is stored."""
    values = {"label": "laptop 7", "agent_version": "0.1.0", "platform": "linux"}
    values["code"] = world.code_3b
    values[field] = text
    with sessions.begin() as session, pytest.raises(InvalidRequest) as refused:
        enrolment.enroll(
            session,
            code=values["code"],
            platform=values["platform"],
            agent_version=values["agent_version"],
            label=values["label"],
            fingerprint=None,
            now=clock(),
        )
    assert refused.value.message == f"{field} must not contain control characters"
    with sessions.begin() as session:
        assert session.scalars(select(Device)).all() == []


@pytest.mark.parametrize("field", ["category", "family", "rule"])
@pytest.mark.parametrize("text", ["social_media\n", "tiktok\x1b[2K", "a1\u202e"])
def test_summary_strings_with_control_characters_are_rejected(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, field: str, text: str
) -> None:
    """A summary naming a category, family or rule with control characters is not stored (a
    trailing new line used to slip through the identifier pattern)."""
    item = summary(world.lesson_3b, [finding("tiktok", 300)])
    item["findings"][0][field] = text
    with pytest.raises(WireError, match="must not contain control characters"):
        parse_summary(item)
    with sessions.begin() as session:
        device = devices.device_for_token(session, enrol(session, world.code_3b, clock()).token)
        results = ingest.ingest_batch(
            session,
            device=device,
            items=[item],
            now=clock(),
            future_tolerance=timedelta(hours=1),
        )
    assert results[0].status != "accepted"
    assert "control characters" in (results[0].reason or "")


def test_devices_list_escapes_labels_stored_before(
    cli: Callable[..., str], sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A label stored before enrolment refused control characters prints escaped: one row per
    device, no escape sequence reaches the terminal, no row is forged."""
    with sessions.begin() as session:
        device_id = enrol(session, world.code_3b, clock()).device_id
        session.flush()
        session.get_one(Device, device_id).label = HOSTILE[0] + "\n" + HOSTILE[2]
    out = cli("devices", "list")
    lines = out.splitlines()
    assert len(lines) == 1 and "\x1b" not in out and "\u202e" not in out
    cells = lines[0].split("\t")
    assert len(cells) == 8 and cells[0] == device_id
    assert cells[2] == "\\x1b[1A\\x1b[2Kd_forged\\t3B\\tok\\nevil\\u202eko"


@given(st.text())
def test_shown_is_one_printable_cell(text: str) -> None:
    """Whatever is stored, a cell is printable, on one line, with no tab to split it."""
    cell = shown(text)
    assert cell.isprintable() and "\t" not in cell and "\n" not in cell
    assert cell == (text or "-") or any(not c.isprintable() for c in text)


def test_lessons_list_escapes_a_subject_stored_from_a_feed(
    cli: Callable[..., str], sessions: sessionmaker[Session], world: World
) -> None:
    """Text from a timetable feed is stored text too: its table cell is escaped."""
    with sessions.begin() as session:
        session.get_one(Lesson, world.lesson_3b).subject = "wiskunde\n" + HOSTILE[0]
    out = cli("lessons", "list", "--date", LESSON_START.date().isoformat())
    assert "\x1b" not in out and len(out.splitlines()) == 2  # the 3B and the 4A lesson
    assert "\twiskunde\\n\\x1b[1A\\x1b[2Kd_forged\\t3B\\tok\t" in out
