"""School holidays stored and applied: lessons in a holiday of the school's region are sent to
devices as cancelled and listed as holiday; other regions' holidays change nothing, and neither
do other schools' own holiday files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.cli.main import main
from service.devices import agent_config, enrolment
from service.lessons import records as lessons
from service.models import AuditEntry, Device, SchoolHoliday
from service.schools import registry as schools
from service.settings import Settings
from service.timetable import Holiday
from service.timetable_store import holidays
from tests.support.schools import found_school
from tests.timetable.helpers import FIXTURES
from tests.timetable.replay import Replay, replay_server

FIXTURE = FIXTURES / "schoolholidays.json"
OPEN_DATA = "/v1/sources/rijksoverheid/infotypes/schoolholidays"
# 2025-2026 in the fixture: Herfstvakantie (advised) zuid 11-19 Oct, noord/midden 18-26 Oct;
# Kerstvakantie (compulsory, nationwide) 20 Dec - 4 Jan.
AUTUMN_ZUID = datetime(2025, 10, 13, 7, 30, tzinfo=UTC)  # 09:30 Amsterdam, a Monday
CHRISTMAS = datetime(2025, 12, 22, 8, 30, tzinfo=UTC)
SCHOOL_DAY = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


@pytest.fixture
def db_url(db_url: str) -> str:
    """The test's database with the school the commands work on: none founds one by itself."""
    return found_school(db_url)


def run(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    # The replay server is on loopback, which the collector refuses unless told otherwise.
    monkeypatch.setenv("LESSONWATCH_FETCH_ALLOW_HOSTS", "127.0.0.1")
    with replay_server() as server:
        server.answer(OPEN_DATA, FIXTURE.read_bytes(), kind="application/json")
        yield server


def school_with_lessons(sessions: sessionmaker[Session]) -> tuple[Device, dict[datetime, str]]:
    """A 3B device and three 3B lessons: autumn (zuid), Christmas, and a school day."""
    with sessions.begin() as session:
        school = schools.school(session)
        ids = {
            at: lessons.add_lesson(
                session,
                school=school,
                group="3B",
                start=at,
                end=at + timedelta(minutes=50),
                now=at,
            ).id
            for at in (AUTUMN_ZUID, CHRISTMAS, SCHOOL_DAY)
        }
        code = enrolment.create_code(
            session,
            actor=Actor.operator(school),
            group="3B",
            uses=1,
            lifetime=timedelta(days=1),
            now=AUTUMN_ZUID,
        )
        enrolled = enrolment.enroll(
            session,
            code=code,
            platform="linux",
            agent_version="0.1.0",
            label=None,
            fingerprint=None,
            now=AUTUMN_ZUID,
        )
        device = session.get_one(Device, enrolled.device_id)
        session.expunge(device)
    return device, ids


def cancelled_in_config(
    sessions: sessionmaker[Session], device: Device, now: datetime
) -> dict[str, bool]:
    settings = Settings(db="sqlite://", config_ahead_days=120, config_past_hours=1)
    with sessions.begin() as session:
        body = agent_config.build_config(session, device=device, settings=settings, now=now).body
    return {item["id"]: item["cancelled"] for item in body["lessons"]}


@pytest.mark.parametrize(
    ("argv", "autumn", "christmas"),
    [
        (["--region", "zuid"], True, True),
        (["--region", "noord"], False, True),
        (["--region", "zuid", "--ignore-advised"], False, True),
    ],
)
def test_holidays_of_the_region_cancel_lessons_in_the_agent_config(
    capsys: pytest.CaptureFixture[str],
    sessions: sessionmaker[Session],
    db_url: str,
    argv: list[str],
    autumn: bool,
    christmas: bool,
) -> None:
    """Lessons in the region's holidays (advised ones unless ignored) come as cancelled."""
    device, ids = school_with_lessons(sessions)
    before = AUTUMN_ZUID - timedelta(minutes=30)
    assert set(cancelled_in_config(sessions, device, before).values()) == {False}
    code, out, _ = run(capsys, db_url, "holidays", "import", str(FIXTURE), *argv)
    assert code == 0 and "for 2025-2026" in out and f"region: {argv[1]}" in out
    assert cancelled_in_config(sessions, device, before) == {
        ids[AUTUMN_ZUID]: autumn,
        ids[CHRISTMAS]: christmas,
        ids[SCHOOL_DAY]: False,
    }
    listed = json.loads(run(capsys, db_url, "lessons", "list", "--json")[1])
    assert [r.get("holiday") for r in listed] == [
        "Herfstvakantie" if autumn else None,
        "Kerstvakantie",
        None,
    ]
    assert [r["cancelled"] for r in listed] == [False, False, False]  # as stored


def test_no_region_means_no_holidays(
    capsys: pytest.CaptureFixture[str], sessions: sessionmaker[Session], db_url: str
) -> None:
    """Without a region the school's lessons are never taken for holidays."""
    device, _ = school_with_lessons(sessions)
    code, out, _ = run(capsys, db_url, "holidays", "import", str(FIXTURE))
    assert code == 0 and "region: not set" in out and "heel nederland, midden, noord, zuid" in out
    assert set(cancelled_in_config(sessions, device, AUTUMN_ZUID).values()) == {False}
    assert run(capsys, db_url, "schools", "set", "--holiday-region", "midden")[0] == 0
    assert json.loads(run(capsys, db_url, "schools", "show")[1])["holiday_region"] == "midden"
    assert list(cancelled_in_config(sessions, device, AUTUMN_ZUID).values()) == [False, True, False]


def test_import_from_the_open_data_url_replaces_the_year(
    capsys: pytest.CaptureFixture[str], db_url: str, replay: Replay
) -> None:
    """The open-data URL is read like the file; importing a year again replaces it."""
    for _ in range(2):
        code, out, _ = run(
            capsys, db_url, "holidays", "import", replay.url + OPEN_DATA, "--region", "noord"
        )
        assert code == 0 and out.startswith("3 holiday periods stored")
    listed = json.loads(run(capsys, db_url, "holidays", "list", "--json")[1])
    assert len(listed) == 3 and {h["region"] for h in listed} == {"noord", "heel nederland"}
    assert listed[0] == {
        "name": "Herfstvakantie",
        "schoolyear": "2025-2026",
        "region": "noord",
        "first_day": "2025-10-18",
        "last_day": "2025-10-26",
        "compulsory": False,
    }
    assert "advised" in run(capsys, db_url, "holidays", "list")[1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[{", "holidays.json:1: not JSON"),
        (
            b'[{"content": [{"vacations": [{"type": "x", "regions": [{"region": "oost"}]}]}]}]',
            "[0].content[0].vacations[0].regions[0].region 'oost'",
        ),
        (b"x" * (2 * 1024 * 1024 + 1), "larger than the limit"),
    ],
)
def test_bad_holiday_files_are_refused(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path, data: bytes, message: str
) -> None:
    """A bad holiday file exits 1 with the place in the JSON; nothing is stored."""
    path = tmp_path / "holidays.json"
    path.write_bytes(data)
    code, out, err = run(capsys, db_url, "holidays", "import", str(path), "--region", "zuid")
    assert (code, out) == (1, "") and message in err, err
    assert json.loads(run(capsys, db_url, "holidays", "list", "--json")[1]) == []
    assert json.loads(run(capsys, db_url, "schools", "show")[1])["holiday_region"] is None


def test_an_unreachable_holiday_url_exits_1(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """A URL that cannot be fetched is refused with the reason."""
    code, _, err = run(capsys, db_url, "holidays", "import", "http://127.0.0.1:9/x.json")
    assert code == 1 and "could not fetch" in err


def test_stdin_is_not_read_by_holiday_import(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """Only sources add reads stdin (its secret); other commands leave it alone."""
    stream = io.StringIO("untouched\n")
    monkeypatch.setattr("sys.stdin", stream)
    assert run(capsys, db_url, "holidays", "import", str(FIXTURE))[0] == 0
    assert stream.read() == "untouched\n"


# Each school its own holidays (issue 13): (owner, name, school year) of the stored rows, where
# the owner is "shared" (the national reference) or a school.
STORED = [
    ("shared", "Herfst", "2025-2026"),
    ("shared", "Kerst", "2025-2026"),
    ("shared", "Herfst 26", "2026-2027"),
    ("A", "Herfst van A", "2025-2026"),
]


@pytest.mark.parametrize(
    ("reader", "expected"),
    [
        # A's own file covers 2025-2026: the shared holidays of that year are not A's.
        ("A", ["Herfst van A", "Herfst 26"]),
        # B imported nothing: the shared holidays, none of A's.
        ("B", ["Herfst", "Kerst", "Herfst 26"]),
        ("shared", ["Herfst", "Kerst", "Herfst 26"]),
    ],
)
def test_a_school_reads_its_own_holidays_else_the_shared_ones(
    sessions: sessionmaker[Session], reader: str, expected: list[str]
) -> None:
    """Per school year, a school's own import replaces the shared reference, for it alone."""
    with sessions.begin() as session:
        owners = {"shared": holidays.SHARED}
        owners |= {name: schools.school(session, name).id for name in ("A", "B")}
        for n, (owner, name, year) in enumerate(STORED):
            first = date(int(year[:4]), 10, 1) + timedelta(days=7 * n)
            found = [Holiday(name, year, "midden", first, first + timedelta(days=6), True)]
            session.add_all(
                SchoolHoliday(
                    school_id=owners[owner],
                    region=h.region,
                    schoolyear=h.schoolyear,
                    name=h.name,
                    first_day=h.first_day,
                    last_day=h.last_day,
                    compulsory=h.compulsory,
                )
                for h in found
            )
        session.flush()
        read = holidays.stored(session, school_id=owners[reader], region="midden")
        assert [h.name for h in read] == expected


def test_storing_a_schools_file_leaves_the_shared_holidays_and_other_schools_alone(
    sessions: sessionmaker[Session],
) -> None:
    """Importing a year again replaces the importer's own rows of that year, nothing else."""
    year = "2025-2026"
    first = date(2025, 10, 13)

    def one(name: str) -> list[Holiday]:
        return [Holiday(name, year, "zuid", first, first + timedelta(days=4), True)]

    with sessions.begin() as session:
        a, b = (schools.school(session, name).id for name in ("A", "B"))
        holidays.store(session, one("gedeeld"), school_id=holidays.SHARED, region=None)
        holidays.store(session, one("van B"), school_id=b, region=None)
        holidays.store(session, one("van A"), school_id=a, region=None)
        again = holidays.store(session, one("van A, nieuw"), school_id=a, region=None)
        assert (again.stored, again.replaced) == (1, 1)
        names = {
            owner: [h.name for h in holidays.stored(session, school_id=owner)]
            for owner in (holidays.SHARED, a, b)
        }
    assert names == {holidays.SHARED: ["gedeeld"], a: ["van A, nieuw"], b: ["van B"]}


def test_a_holiday_file_imported_for_one_school_cancels_nothing_of_another(
    capsys: pytest.CaptureFixture[str], sessions: sessionmaker[Session], db_url: str
) -> None:
    """``holidays import`` stores for ``--school`` only; ``--shared`` for every school that has
    no file of its own for the year."""
    device, ids = school_with_lessons(sessions)
    with sessions.begin() as session:
        other = schools.school(session, "Ander")
        code = enrolment.create_code(
            session,
            actor=Actor.operator(other),
            group="3B",
            uses=1,
            lifetime=timedelta(days=1),
            now=AUTUMN_ZUID,
        )
        theirs = enrolment.enroll(
            session,
            code=code,
            platform="linux",
            agent_version="0.1.0",
            label=None,
            fingerprint=None,
            now=AUTUMN_ZUID,
        )
        autumn = lessons.add_lesson(
            session,
            school=other,
            group="3B",
            start=AUTUMN_ZUID,
            end=AUTUMN_ZUID + timedelta(minutes=50),
            now=AUTUMN_ZUID,
        ).id
        other_device = session.get_one(Device, theirs.device_id)
        session.expunge(other_device)
    before = AUTUMN_ZUID - timedelta(minutes=30)
    region = ["--school", "Ander", "--holiday-region", "zuid"]
    assert run(capsys, db_url, "schools", "set", *region)[0] == 0
    code, out, _ = run(capsys, db_url, "holidays", "import", str(FIXTURE), "--region", "zuid")
    assert code == 0 and "for this school only" in out
    assert cancelled_in_config(sessions, device, before)[ids[AUTUMN_ZUID]] is True
    assert cancelled_in_config(sessions, other_device, before) == {autumn: False}
    code, out, _ = run(capsys, db_url, "holidays", "import", str(FIXTURE), "--shared")
    assert code == 0 and "for every school" in out
    assert cancelled_in_config(sessions, other_device, before) == {autumn: True}
    listed = run(capsys, db_url, "holidays", "list", "--school", "Ander", "--json")[1]
    assert {h["region"] for h in json.loads(listed)} == {"zuid", "heel nederland"}


def test_forgetting_its_own_holidays_gives_a_school_the_shared_ones_back_and_is_audited(
    capsys: pytest.CaptureFixture[str], sessions: sessionmaker[Session], db_url: str
) -> None:
    """``holidays forget`` removes the school's own imports only: it reads the shared
    reference again, the other school keeps its file, and both imports and the removal are
    in the school's audit log under the operator."""
    assert run(capsys, db_url, "holidays", "import", str(FIXTURE), "--shared")[0] == 0
    for school in ("A", "B"):
        found_school(db_url, school)
        code, _, err = run(capsys, db_url, "holidays", "import", str(FIXTURE), "--school", school)
        assert code == 0, err
    code, out, err = run(capsys, db_url, "holidays", "forget", "--school", "A")
    assert code == 0, err
    with sessions() as session:
        a, b = (schools.school(session, name).id for name in ("A", "B"))
        own = {
            owner: len(session.scalars(select(SchoolHoliday).where(own_rows(owner))).all())
            for owner in (a, b, holidays.SHARED)
        }
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.school_id == a)
        ).all()
        read_by_a = holidays.stored(session, school_id=a)
        shared = holidays.stored(session, school_id=holidays.SHARED)
    assert own[a] == 0 and own[b] == own[holidays.SHARED] > 0
    assert out.startswith(f"{own[b]} holiday periods")
    assert [h.name for h in read_by_a] == [h.name for h in shared]
    assert ("cli", "holidays.import") in entries and ("cli", "holidays.forget") in entries


def own_rows(owner: int | None) -> ColumnElement[bool]:
    if owner is None:
        return SchoolHoliday.school_id.is_(None)
    return SchoolHoliday.school_id == owner
