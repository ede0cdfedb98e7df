"""The lessonwatch-service command: each command's output, refusals, and its documentation."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from service.actors import Actor
from service.cli.main import build_parser, main, parse_duration
from service.errors import InvalidRequest
from service.settings import SETTINGS_HELP, Settings
from tests.support.clock import DEMO_NOW
from tests.support.schools import found_school

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.fixture
def db_url(db_url: str) -> str:
    """The test's database with the school the commands work on: none founds one by itself."""
    return found_school(db_url)


def run(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_setup_commands_print_what_scripts_need(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """lessons add prints an id, enroll-code a code, tokens create a token; list shows them."""
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert run(capsys, db_url, "users", "add", "--username", "ann", "--role", "teacher")[:2] == (
        0,
        "ann",
    )
    code, lesson, _ = run(
        capsys,
        db_url,
        "lessons",
        "add",
        "--group",
        "3B",
        "--start",
        "2026-11-24T08:30",
        "--end",
        "2026-11-24T09:20",
        "--teacher",
        "ann",
        "--room",
        "A1",
        "--remote",
    )
    assert code == 0 and re.fullmatch(r"l_[A-Za-z0-9_-]{16}", lesson)
    listed = json.loads(run(capsys, db_url, "lessons", "list", "--date", "2026-11-24", "--json")[1])
    assert listed == [
        {
            "id": lesson,
            "group": "3B",
            "teacher": "ann",
            "subject": None,
            "room": "A1",
            "start": "2026-11-24T07:30:00Z",
            "end": "2026-11-24T08:20:00Z",  # Amsterdam is UTC+1
            "remote": True,
            "cancelled": False,
        }
    ]
    assert run(capsys, db_url, "lessons", "list", "--date", "2026-11-25", "--json")[1] == "[]"
    code, enrol_code, _ = run(capsys, db_url, "enroll-code", "create", "--group", "3B")
    assert code == 0 and re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", enrol_code)
    code, token, _ = run(capsys, db_url, "tokens", "create", "--username", "ann")
    assert code == 0 and token.startswith("lwu_")
    report = json.loads(run(capsys, db_url, "report", lesson, "--json")[1])
    assert report["lesson"]["id"] == lesson and report["devices_expected"] == 0
    assert run(capsys, db_url, "purge")[0] == 0
    assert run(capsys, db_url, "tokens", "revoke", "--username", "ann")[1] == "1"


# Formatting, not storage: SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_text_output_shows_school_time_with_the_zone(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """A lesson at 08:30 Amsterdam time and a code made at 10:45 read as such in the text of
    report, lessons list and enroll-code list (CET named); --json keeps UTC."""

    def text(*argv: str) -> str:
        assert main([*argv, "--db", db_url], clock=lambda: DEMO_NOW) == 0
        return capsys.readouterr().out

    add = ("lessons", "add", "--group", "3B")
    lesson = text(*add, "--start", "2026-11-24T08:30", "--end", "2026-11-24T09:20").strip()
    text("enroll-code", "create", "--group", "3B", "--expires-in", "2d")
    assert f"lesson {lesson} (3B, 2026-11-24 08:30–09:20 CET)" in text("report", lesson)
    listed = text("lessons", "list", "--date", "2026-11-24").split("\t")
    assert listed[2:4] == ["2026-11-24 08:30 CET", "2026-11-24 09:20 CET"]
    assert "\t2026-11-26 10:45 CET\t" in text("enroll-code", "list")
    codes = json.loads(text("enroll-code", "list", "--json"))
    assert codes[0]["expires_at"] == "2026-11-26T09:45:00Z"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "lessons",
                "add",
                "--group",
                "3B",
                "--start",
                "2026-11-24T09:00",
                "--end",
                "2026-11-24T08:00",
            ],
            "end must follow start",
        ),
        (
            ["lessons", "add", "--group", "3B", "--start", "morning", "--end", "noon"],
            "not an ISO 8601 time",
        ),
        (
            [
                "lessons",
                "add",
                "--group",
                "3B",
                "--start",
                "2026-11-24T08:00",
                "--end",
                "2026-11-24T09:00",
                "--teacher",
                "ghost",
            ],
            "no user 'ghost'",
        ),
        (["enroll-code", "create", "--group", "3B", "--expires-in", "soon"], "not a duration"),
        (["enroll-code", "create", "--group", "3B", "--uses", "0"], "uses must be"),
        (["tokens", "create", "--username", "ghost"], "no user 'ghost'"),
        (["report", "l_nothing", "--json"], "no lesson"),
        (["devices", "retire", "d_nothing"], "no device"),
        (["schools", "set", "--timezone", "Mars/Olympus"], "unknown time zone"),
        (["lessons", "list", "--date", "24-11-2026"], "not a date"),
    ],
)
def test_refusals_exit_1_with_a_reason(
    capsys: pytest.CaptureFixture[str], db_url: str, argv: list[str], message: str
) -> None:
    """A refused command exits 1 and says why on stderr, printing nothing on stdout."""
    code, out, err = run(capsys, db_url, *argv)
    assert (code, out) == (1, "")
    assert err.startswith("lessonwatch-service: ") and message in err


def test_a_teacher_of_another_school_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """lessons add --teacher finds only the users of the school named with --school."""
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    for school in ("A", "B"):
        found_school(db_url, school)
    added = run(
        capsys, db_url, "users", "add", "--username", "ann", "--role", "teacher", "--school", "B"
    )
    assert added[:2] == (0, "ann")
    argv = ["lessons", "add", "--group", "3B", "--teacher", "ann"]
    argv += ["--start", "2026-11-24T08:30", "--end", "2026-11-24T09:20"]
    code, out, err = run(capsys, db_url, *argv, "--school", "A")
    assert (code, out) == (1, "") and "no user 'ann'" in err
    code, lesson, _ = run(capsys, db_url, *argv, "--school", "B")
    assert code == 0 and lesson.startswith("l_")


def test_short_password_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """users add refuses a password shorter than 10 characters."""
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, db_url, "users", "add", "--username", "x", "--role", "admin")
    assert code == 1 and "at least 10" in err


def test_devices_list_shows_duplicates(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    """Two devices from one cloned image are listed as duplicates, a third one is not."""
    from datetime import UTC, datetime

    from service import db
    from service.devices import enrolment
    from service.schools import registry as schools
    from tests.support.collector import enrol

    run(capsys, db_url, "schools", "show")
    engine = db.make_engine(db_url)
    now = datetime.now(UTC)
    with db.session_factory(engine).begin() as session:
        code = enrolment.create_code(
            session,
            actor=Actor.operator(schools.school(session)),
            group="3B",
            uses=5,
            lifetime=parse_duration("1h"),
            now=now,
        )
        ids = [enrol(session, code, now, fp).device_id for fp in ("aa" * 32, "aa" * 32, "bb" * 32)]
    engine.dispose()
    rows = json.loads(run(capsys, db_url, "devices", "list", "--duplicates", "--json")[1])
    assert sorted(r["id"] for r in rows) == sorted(ids[:2])
    assert run(capsys, db_url, "devices", "retire", ids[0])[0] == 0
    assert json.loads(run(capsys, db_url, "devices", "list", "--duplicates", "--json")[1]) == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    """Durations are a number and one unit."""
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7", "d7", "1.5h", "7 days", "-1d"])
def test_parse_duration_refuses(text: str) -> None:
    """Anything else is refused with the accepted forms named."""
    with pytest.raises(InvalidRequest):
        parse_duration(text)


def _commands() -> list[str]:
    """Every command line (command and action) the parser knows."""
    parser = build_parser()
    found = []
    for name, sub in parser._subparsers._group_actions[0].choices.items():  # type: ignore[union-attr]
        actions = [a for a in sub._actions if a.dest == "action"]
        if actions:
            found.extend(f"{name} {action}" for action in actions[0].choices)
        else:
            found.append(name)
    return found


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented(command: str) -> None:
    """docs/cli.md has a heading for every command."""
    headings = [line for line in DOCS.read_text().splitlines() if line.startswith("### ")]
    assert any(f"`{command}" in h or f"/ `{command}" in h for h in headings), command


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    """Each setting has a help text and a row in docs/cli.md."""
    assert name in SETTINGS_HELP
    assert f"| `{name}` |" in DOCS.read_text()
