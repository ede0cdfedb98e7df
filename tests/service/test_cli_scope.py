"""What a command works on is looked up, never made by accident (issue 17, point 11): an
unknown ``--school`` is refused, a command that only reads creates no database, ``schools add``
founds a school, and every option says what it is for."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from service import db
from service.cli.main import build_parser, main
from service.models import AuditEntry, School
from tests.support.schools import found_school


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else None


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command line the parser knows, as (words, the parser that reads its options)."""
    sub = _subparsers(parser)
    if sub is None:
        return [(path, parser)]
    return [found for name, child in sub.choices.items() for found in _walk(child, (*path, name))]


COMMANDS = _walk(build_parser())


def _defaults(words: tuple[str, ...]) -> argparse.Namespace:
    """The command's defaults as its parser sets them (``read_only``, ``handler``, ...)."""
    return argparse.Namespace(**dict(COMMANDS)[words]._defaults)


def _name(words: tuple[str, ...]) -> str:
    return " ".join(words)


# Every option and argument, of every command.


def test_every_subcommand_has_help_text() -> None:
    """``lessonwatch-service --help`` and each command's help say what every command does."""
    missing = []

    def visit(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        sub = _subparsers(parser)
        if sub is None:
            return
        helped = {a.dest for a in sub._choices_actions if a.help}
        for name, child in sub.choices.items():
            if name not in helped:
                missing.append(_name((*path, name)))
            visit(child, (*path, name))

    visit(build_parser(), ())
    assert missing == []


def test_every_option_has_help_text() -> None:
    """Every option and argument of every command has a help text (the parser walked whole)."""
    missing = [
        f"{_name(words)} {action.option_strings[0] if action.option_strings else action.dest}"
        for words, parser in COMMANDS
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert COMMANDS and missing == []


# Read-only commands and a database that is not there.

# The commands that only read, with the arguments each needs; the parser marks them
# ``read_only``, and the test below checks this table against it.
READ_ONLY: dict[str, list[str]] = {
    "devices export": ["d_nothing"],
    "devices list": [],
    "enroll-code list": [],
    "holidays list": [],
    "lessons list": [],
    "report": ["l_nothing"],
    "schools list": [],
    "schools show": [],
    "sources list": [],
}


def test_the_read_only_table_is_what_the_parser_marks() -> None:
    """A command marked ``read_only`` is in the table, and only those are."""
    marked = {_name(w) for w, _ in COMMANDS if getattr(_defaults(w), "read_only", False)}
    assert marked == set(READ_ONLY)


@pytest.mark.parametrize(("command", "extra"), sorted(READ_ONLY.items()))
def test_a_read_only_command_creates_no_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, extra: list[str]
) -> None:
    """On a SQLite file that is not there it exits 1 saying so, and creates neither the file
    nor its folder."""
    path = tmp_path / "missing" / "collector.sqlite3"
    code, out, err = run(capsys, *command.split(), *extra, "--db", f"sqlite:///{path}")
    assert (code, out) == (1, "")
    assert err.startswith("lessonwatch-service: no collector database at ") and str(path) in err
    assert not path.parent.exists()


def test_a_read_only_command_creates_no_database_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A mistyped ``$LESSONWATCH_DB`` is refused the same way as a mistyped ``--db``."""
    path = tmp_path / "colector.sqlite3"
    monkeypatch.setenv("LESSONWATCH_DB", f"sqlite:///{path}")
    assert run(capsys, "devices", "list")[0] == 1
    assert not path.exists()


@pytest.mark.parametrize(("command", "extra"), sorted(READ_ONLY.items()))
def test_a_read_only_command_migrates_no_empty_database(
    capsys: pytest.CaptureFixture[str], empty_db_url: str, command: str, extra: list[str]
) -> None:
    """On a database with no collector schema (a new PostgreSQL database, an empty SQLite
    file) it exits 1 saying so, and leaves the database without a table."""
    if empty_db_url.startswith("sqlite:///"):
        Path(empty_db_url.removeprefix("sqlite:///")).touch()
    code, out, err = run(capsys, *command.split(), *extra, "--db", empty_db_url)
    assert (code, out) == (1, "")
    assert "holds no collector schema" in err
    engine = db.make_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        engine.dispose()


def test_a_read_only_command_refuses_a_file_that_is_no_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A text file named as the database is refused with the reason, not a traceback, and
    left as it was."""
    path = tmp_path / "notes.sqlite3"
    path.write_text("not a database\n")
    code, _, err = run(capsys, "schools", "list", "--db", f"sqlite:///{path}")
    assert code == 1 and "cannot read the database" in err and "not a database" in err
    assert path.read_text() == "not a database\n"


def test_a_read_only_command_reads_an_existing_database(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """Where the database and the school are there, a read-only command answers as before."""
    found_school(db_url)
    assert run(capsys, "devices", "list", "--json", "--db", db_url)[:2] == (0, "[]")


# An unknown --school, for every command that takes one.

# The arguments each command needs besides --school; the test below checks that the table
# holds every command with a --school option.
NEEDS: dict[str, list[str]] = {
    "devices erase": ["d_nothing"],
    "devices retire": ["d_nothing"],
    "enroll-code create": ["--group", "3B"],
    "enroll-code retire-devices": ["1"],
    "enroll-code revoke": ["1"],
    "holidays forget": [],
    "holidays import": ["{holidays}"],
    "lessons add": ["--group", "3B", "--start", "2026-11-24T08:30", "--end", "2026-11-24T09:20"],
    "lessons import": ["{ics}"],
    "permissions grant": ["l_nothing", "--categories", "social_media"],
    "permissions withdraw": ["l_nothing", "1"],
    "purge": [],
    "schools set": ["--retention-days", "20"],
    "sources add": ["rooster", "--kind", "ical_url"],
    "sources remove": ["rooster"],
    "sources sync": [],
    "tokens create": ["--username", "ann"],
    "tokens revoke": ["--username", "ann"],
    "users add": ["--username", "ann", "--role", "admin"],
    **READ_ONLY,
}
NEEDS.pop("schools list")  # about every school: it takes no --school


def _takes_school(parser: argparse.ArgumentParser) -> bool:
    return any("--school" in a.option_strings for a in parser._actions)


def test_the_school_table_holds_every_command_that_takes_a_school() -> None:
    """``--school`` is an option of exactly the commands in the table."""
    assert {_name(w) for w, p in COMMANDS if _takes_school(p)} == set(NEEDS)


def test_commands_about_every_school_take_none() -> None:
    """``serve``, ``demo``, ``schools add`` and ``schools list`` work on no one school."""
    assert {_name(w) for w, p in COMMANDS if not _takes_school(p)} == {
        "demo",
        "schools add",
        "schools list",
        "serve",
    }


@pytest.mark.parametrize(("command", "extra"), sorted(NEEDS.items()))
def test_an_unknown_school_is_refused_by_every_command(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    tmp_path: Path,
    command: str,
    extra: list[str],
) -> None:
    """A mistyped ``--school`` exits 1 naming the schools there are, founds no school and
    writes nothing to any school's audit log."""
    found_school(db_url, "Lyceum")
    files = {"holidays": tmp_path / "holidays.json", "ics": tmp_path / "rooster.ics"}
    files["holidays"].write_text("[]")
    files["ics"].write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    argv = [a.format(**files) for a in extra]
    code, out, err = run(capsys, *command.split(), *argv, "--school", "Lyceun", "--db", db_url)
    assert (code, out) == (1, "")
    assert err == (
        "lessonwatch-service: no school 'Lyceun' on this collector (1 school: 'Lyceum'); "
        "give --school or $LESSONWATCH_SCHOOL, or add it with "
        "'lessonwatch-service schools add NAME'"
    )
    engine = db.make_engine(db_url)
    try:
        with db.session_factory(engine)() as session:
            assert list(session.scalars(select(School.name))) == ["Lyceum"]
            assert [e.action for e in session.scalars(select(AuditEntry))] == ["school.add"]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("env", "argv", "named"),
    [
        # The default school is 'School'; $LESSONWATCH_SCHOOL and --school name another.
        ({}, [], "School"),
        ({"LESSONWATCH_SCHOOL": "Atheneum"}, [], "Atheneum"),
        ({"LESSONWATCH_SCHOOL": "Atheneum"}, ["--school", "Gymnasium"], "Gymnasium"),
    ],
)
def test_the_refusal_names_the_school_asked_for(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    env: dict[str, str],
    argv: list[str],
    named: str,
) -> None:
    """Whether the school came from --school, the environment or the default, the message
    names the one that is not there; with no school at all it says there are none."""
    monkeypatch.delenv("LESSONWATCH_SCHOOL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, _, err = run(capsys, "devices", "list", *argv, "--db", db_url)
    assert code == 1 and f"no school {named!r} on this collector (0 schools);" in err


def test_many_schools_are_named_up_to_twenty(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """A board with many schools gets the first twenty names and how many more there are."""
    for n in range(23):
        found_school(db_url, f"School {n:02d}")
    err = run(capsys, "purge", "--school", "Nope", "--db", db_url)[2]
    assert "(23 schools: 'School 00', " in err and "'School 19' and 3 more)" in err
    assert "'School 20'" not in err


# schools add and schools list.


def test_a_fresh_collector_is_set_up_with_schools_add(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first-run steps of docs/cli.md: ``schools add`` creates the database and founds the
    school, audited under ``cli``; its first admin can then be added."""
    url = f"sqlite:///{tmp_path / 'data' / 'collector.sqlite3'}"
    founded = run(
        capsys, "schools", "add", "Het Lyceum", "--timezone", "Europe/Brussels", "--db", url
    )
    assert founded[:2] == (0, "Het Lyceum")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    argv = ["--school", "Het Lyceum", "--db", url]
    assert run(capsys, "users", "add", "--username", "root", "--role", "admin", *argv)[:2] == (
        0,
        "root",
    )
    shown = json.loads(run(capsys, "schools", "show", *argv)[1])
    assert (shown["name"], shown["timezone"], shown["retention_days"]) == (
        "Het Lyceum",
        "Europe/Brussels",
        28,
    )
    listed = json.loads(run(capsys, "schools", "list", "--json", "--db", url)[1])
    assert listed == [{"name": "Het Lyceum", "timezone": "Europe/Brussels"}]
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            school_id = session.scalars(select(School.id)).one()
            entries = session.execute(
                select(AuditEntry.actor, AuditEntry.action, AuditEntry.object)
            ).all()
    finally:
        engine.dispose()
    assert entries[0] == ("cli", "school.add", f"school:{school_id}")


def test_schools_list_prints_every_school_by_name(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """One tab-separated line per school, sorted by name: its name and time zone."""
    found_school(db_url, "Zuid")
    found_school(db_url, "Noord")
    assert run(capsys, "schools", "list", "--db", db_url)[1].splitlines() == [
        "Noord\tEurope/Amsterdam",
        "Zuid\tEurope/Amsterdam",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # the name
        (["School"], "a school named 'School' exists already"),
        (["  School  "], "a school named 'School' exists already"),
        ([""], "school name must be 1 to 200 printable characters"),
        (["   "], "school name must be 1 to 200 printable characters"),
        (["Lyc\x1beum"], "school name must be 1 to 200 printable characters"),
        (["L" * 201], "school name must be 1 to 200 printable characters"),
        # the time zone
        (["Lyceum", "--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["Lyceum", "--timezone", ""], "unknown time zone ''"),
        (["Lyceum", "--timezone", "../../etc/passwd"], "unknown time zone"),
    ],
)
def test_schools_add_refuses_a_bad_or_taken_name_and_founds_nothing(
    capsys: pytest.CaptureFixture[str], db_url: str, argv: list[str], message: str
) -> None:
    """A name taken, empty, too long or with control characters, or an unknown time zone,
    exits 1 with the reason and founds nothing."""
    found_school(db_url)
    code, out, err = run(capsys, "schools", "add", *argv, "--db", db_url)
    assert (code, out) == (1, "") and message in err
    assert run(capsys, "schools", "list", "--db", db_url)[1] == "School\tEurope/Amsterdam"


@pytest.mark.parametrize(
    "argv",
    [
        ["schools", "add"],  # no name
        ["schools", "add", "A", "--school", "B"],  # founding takes no --school
        ["schools", "list", "--school", "B"],
        ["serve", "--school", "B"],  # serves every school
    ],
)
def test_school_wide_commands_refuse_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A missing name or a --school where none applies is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


# What a fresh process holds after importing the command line, then the web app: one process
# for the tests below, since each import costs about a CPU-second.
_PROBE = """
import json, sys
import service.cli.main
cli = sorted({name.partition(".")[0] for name in sys.modules})
import service.app
app = sorted({name.partition(".")[0] for name in sys.modules})
print(json.dumps({"cli": cli, "app": app}))
"""


@pytest.fixture(scope="module")
def imported_at_start() -> dict[str, set[str]]:
    """The top-level packages imported by ``service.cli.main`` ("cli"), and with the web app
    ("app"), each in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    return {name: set(packages) for name, packages in json.loads(done.stdout).items()}


def test_the_command_line_starts_without_the_web_stack(
    imported_at_start: dict[str, set[str]],
) -> None:
    """Every command starts without importing the web app (FastAPI, Jinja2, the pages): about
    0.3 of a command's 1.1 CPU-s start-up was that, brought in by the demo's showcase; `serve`
    and `demo` import it when they run."""
    assert {"fastapi", "jinja2"} & imported_at_start["cli"] == set()


def test_only_reading_a_calendar_imports_the_calendar_libraries(
    imported_at_start: dict[str, set[str]],
) -> None:
    """Neither a command nor the web app imports icalendar and recurring-ical-events before it
    reads a calendar: about 0.1 CPU-s of every start, for the few that import a timetable."""
    calendars = {"icalendar", "recurring_ical_events", "x_wr_timezone"}
    assert "fastapi" in imported_at_start["app"]  # the probe did import the web app
    assert calendars & imported_at_start["cli"] == set()
    assert calendars & imported_at_start["app"] == set()
