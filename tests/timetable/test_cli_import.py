"""``lessons import`` and ``lessons list`` through the command, on SQLite and PostgreSQL.

The command takes the real clock, so the calendars here are written relative to today.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service import db
from service.cli.main import main
from service.models import Lesson, TimetableSource
from service.timetable_store.progress import Bar
from tests.support.schools import found_school
from tests.timetable.feeds import MONDAY, stamp, weekly
from tests.timetable.helpers import AMSTERDAM, VTIMEZONE_AMSTERDAM, calendar


@pytest.fixture
def db_url(db_url: str) -> str:
    """The test's database with the school the commands work on: none founds one by itself."""
    return found_school(db_url)


def run(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def counts(db_url: str) -> tuple[int, int]:
    """Lessons and sources stored."""
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            lessons = conn.scalar(select(func.count()).select_from(Lesson)) or 0
            sources = conn.scalar(select(func.count()).select_from(TimetableSource)) or 0
            return lessons, sources
    finally:
        engine.dispose()


def test_import_list_reimport(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """An import stores the occurrences; list shows them in UTC; a re-import changes nothing."""
    ics = write(
        tmp_path,
        "rooster.ics",
        calendar(
            weekly("wi@school"),
            weekly("en@school", "10:30", "en - 3B - kzp"),
            header=VTIMEZONE_AMSTERDAM,
        ),
    )
    code, out, err = run(capsys, db_url, "lessons", "import", ics, "--mapping", "vak-klas-docent")
    assert (code, err) == (0, "")
    assert "8 lessons" in out and "8 new" in out
    listed = json.loads(
        run(
            capsys, db_url, "lessons", "list", "--json", "--from", str(MONDAY), "--to", str(MONDAY)
        )[1]
    )
    first = datetime.combine(MONDAY, time(8, 30), AMSTERDAM).astimezone(UTC)
    assert [{k: v for k, v in r.items() if k != "id"} for r in listed] == [
        {
            "group": "3B",
            "teacher": "jdv",
            "subject": "wi",
            "room": "217",
            "start": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (first + timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "remote": False,
            "cancelled": False,
        },
        {
            "group": "3B",
            "teacher": "kzp",
            "subject": "en",
            "room": "217",
            "start": (first + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (first + timedelta(hours=2, minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "remote": False,
            "cancelled": False,
        },
    ]
    # The source remembers its mapping: the second import needs no --mapping.
    code, out, _ = run(capsys, db_url, "lessons", "import", ics)
    assert code == 0 and "0 new" in out and "8 unchanged" in out
    assert counts(db_url) == (8, 1)
    sources = json.loads(run(capsys, db_url, "sources", "list", "--json")[1])
    assert [(s["name"], s["kind"], s["mapping"], s["last_result"]) for s in sources] == [
        ("rooster.ics", "ical_file", "vak-klas-docent", "ok")
    ]


def test_cancel_and_move_through_a_reimport(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """An edited export cancels one occurrence and moves another, keeping their ids."""
    original = calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM)
    ics = write(tmp_path, "r.ics", original)
    assert run(capsys, db_url, "lessons", "import", ics, "--mapping", "vak-klas-docent")[0] == 0
    before = json.loads(run(capsys, db_url, "lessons", "list", "--json")[1])
    week2, week3 = MONDAY + timedelta(days=7), MONDAY + timedelta(days=14)
    edited = calendar(
        weekly("wi@school"),
        f"""UID:wi@school
RECURRENCE-ID;TZID=Europe/Amsterdam:{stamp(week2, "08:30")}
DTSTART;TZID=Europe/Amsterdam:{stamp(week2, "08:30")}
DTEND;TZID=Europe/Amsterdam:{stamp(week2, "09:20")}
STATUS:CANCELLED
SUMMARY:wi - 3B - jdv""",
        f"""UID:wi@school
RECURRENCE-ID;TZID=Europe/Amsterdam:{stamp(week3, "08:30")}
DTSTART;TZID=Europe/Amsterdam:{stamp(week3, "13:00")}
DTEND;TZID=Europe/Amsterdam:{stamp(week3, "13:50")}
SUMMARY:wi - 3B - jdv
LOCATION:105""",
        header=VTIMEZONE_AMSTERDAM,
    )
    Path(ics).write_bytes(edited)
    code, out, _ = run(capsys, db_url, "lessons", "import", ics)
    assert code == 0 and "1 changed, 1 cancelled" in out
    after = json.loads(run(capsys, db_url, "lessons", "list", "--json")[1])
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert [r["cancelled"] for r in after] == [False, True, False, False]
    assert after[2]["room"] == "105"
    assert after[2]["start"] == datetime.combine(week3, time(13), AMSTERDAM).astimezone(
        UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_dry_run_prints_the_preview_and_stores_nothing(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """--dry-run prints the preview with its plan and stores neither lessons nor a source."""
    ics = write(tmp_path, "r.ics", calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM))
    code, out, err = run(
        capsys, db_url, "lessons", "import", ics, "--dry-run", "--mapping", "vak-klas-docent"
    )
    assert (code, err) == (0, "")
    preview = json.loads(out)
    assert (preview["lessons"], preview["groups"], preview["plan"]["inserts"]) == (4, {"3B": 4}, 4)
    assert counts(db_url) == (0, 0)


def test_window_from_to_and_csv_by_content(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """A CSV is recognised by content; --from/--to keep only lessons on those days."""
    rows = [f"{MONDAY + timedelta(days=d)};08:30;09:20;3B;wi;jdv;217;;" for d in range(0, 14, 1)]
    csv = write(
        tmp_path,
        "rooster.txt",
        ("date;start;end;group;subject;teacher;room;remote;cancelled\n" + "\n".join(rows)).encode(),
    )
    last = MONDAY + timedelta(days=4)
    code, out, _ = run(
        capsys, db_url, "lessons", "import", csv, "--from", str(MONDAY), "--to", str(last)
    )
    assert code == 0 and "5 lessons" in out
    assert "left out: 9 (outside_window)" in out
    assert (
        len(json.loads(run(capsys, db_url, "lessons", "list", "--json", "--group", "3B")[1])) == 5
    )


def test_a_dutch_csv_imports_like_an_english_one(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """The Dutch header (datum;begin;eind;klas;vak;docent;lokaal), in Dutch dates and dotted
    times, imports through the command; the lessons list as the file says."""
    day = f"{MONDAY:%d-%m-%Y}"
    rows = [f"{day};8.30;09:20;3B;wi;jdv;217", f"{day};09:20;10.10;3B;ne;bal;105"]
    header = "\ufeffDatum;Begin;Eind;Klas;Vak;Docent;Lokaal"
    csv = write(tmp_path, "rooster.csv", "\n".join([header, *rows]).encode())
    code, out, _ = run(capsys, db_url, "lessons", "import", csv)
    assert code == 0 and "2 lessons" in out, out
    listed = json.loads(run(capsys, db_url, "lessons", "list", "--json", "--group", "3B")[1])
    assert [(lesson["subject"], lesson["teacher"], lesson["room"]) for lesson in listed] == [
        ("wi", "jdv", "217"),
        ("ne", "bal", "105"),
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("datum;begin;eind;vak", "rooster.csv:1: the header lacks 'klas'"),
        ("datum;begin;eind;klas;group", "columns 'klas' and 'group' are the same column"),
        ("datum;begin;eind;klas;leraar", "unknown column 'leraar'; the columns are 'datum'"),
    ],
)
def test_a_wrong_dutch_header_exits_1_naming_the_columns_in_dutch(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path, header: str, message: str
) -> None:
    """The command refuses a wrong Dutch header with the Dutch column names; nothing stored."""
    csv = write(tmp_path, "rooster.csv", f"{header}\n{MONDAY:%d-%m-%Y};08:30;09:20;3B\n".encode())
    code, out, err = run(capsys, db_url, "lessons", "import", csv)
    assert (code, out) == (1, "") and message in err, err
    assert counts(db_url) == (0, 0)


def test_daylight_saving_change_keeps_the_wall_clock(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """Across the next daylight-saving change a weekly 08:30 lesson stays at 08:30 local."""
    day = MONDAY
    while AMSTERDAM.utcoffset(datetime.combine(day, time(12))) == AMSTERDAM.utcoffset(
        datetime.combine(day + timedelta(days=7), time(12))
    ):
        day += timedelta(days=7)
    event = f"""UID:dst@school
DTSTART;TZID=Europe/Amsterdam:{stamp(day, "08:30")}
DTEND;TZID=Europe/Amsterdam:{stamp(day, "09:20")}
RRULE:FREQ=WEEKLY;COUNT=2
SUMMARY:wi"""
    ics = write(tmp_path, "dst.ics", calendar(event, header=VTIMEZONE_AMSTERDAM))
    assert run(capsys, db_url, "lessons", "import", ics, "--group", "3B")[0] == 0
    listed = json.loads(run(capsys, db_url, "lessons", "list", "--json")[1])
    local = [datetime.fromisoformat(r["start"]).astimezone(AMSTERDAM) for r in listed]
    assert [(t.hour, t.minute) for t in local] == [(8, 30), (8, 30)]
    assert listed[0]["start"][11:16] != listed[1]["start"][11:16]  # different UTC hours


BAD_ICS = {
    "malformed": (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nthis is no line\r\n",
        "bad.ics",
    ),
    "unknown_zone": (
        calendar(weekly("z@school").replace("TZID=Europe/Amsterdam", "TZID=Mars/Olympus")),
        "unknown time zone 'Mars/Olympus'",
    ),
    "no_end": (
        calendar(
            f"UID:noend@school\nDTSTART;TZID=Europe/Amsterdam:{stamp(MONDAY, '08:30')}\nSUMMARY:wi",
            header=VTIMEZONE_AMSTERDAM,
        ),
        "bad.ics:",
    ),
    "every_minute_since_1990": (
        calendar(
            "UID:flood@school\nDTSTART:19900101T080000Z\nDTEND:19900101T085000Z\n"
            "RRULE:FREQ=MINUTELY\nSUMMARY:wi"
        ),
        "over the limit",
    ),
    "control_characters_in_a_group": (
        calendar(weekly("ctl@school", summary="wi - 3\x1bB - jdv"), header=VTIMEZONE_AMSTERDAM),
        "not printable",
    ),
    "oversized_summary": (
        calendar(
            weekly("big@school", summary="w" * 500 + " - 3B - jdv"), header=VTIMEZONE_AMSTERDAM
        ),
        "longer than 100 characters",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ICS))
def test_bad_input_exits_1_names_the_place_and_stores_nothing(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path, case: str
) -> None:
    """Each kind of bad calendar is refused with its file and line or UID; nothing is stored."""
    data, message = BAD_ICS[case]
    ics = write(tmp_path, "bad.ics", data)
    code, out, err = run(
        capsys, db_url, "lessons", "import", ics, "--group", "3B", "--mapping", "vak-klas-docent"
    )
    assert (code, out) == (1, "")
    assert err.startswith("lessonwatch-service: ") and message in err, err
    assert "bad.ics" in err
    assert counts(db_url) == (0, 0)


def test_no_end_names_the_uid_and_line(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """An event without an end is named by file, line and UID."""
    ics = write(tmp_path, "bad.ics", BAD_ICS["no_end"][0])
    err = run(capsys, db_url, "lessons", "import", ics, "--group", "3B")[2]
    assert "bad.ics:" in err and "(UID 'noend@school')" in err and "no DTEND or DURATION" in err


def test_a_50_mb_file_is_refused_before_it_is_read(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """A 50 MB file is refused by its size; nothing is parsed or stored."""
    path = tmp_path / "huge.ics"
    with path.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: the size is real, the disk is not used
    code, _, err = run(capsys, db_url, "lessons", "import", str(path))
    assert code == 1 and "huge.ics: the file is larger than the limit" in err
    assert counts(db_url) == (0, 0)


def test_a_weekly_lesson_since_1990_expands_only_the_window(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """A recurrence without end over decades imports only the window's occurrences."""
    event = "UID:old@school\nDTSTART:19900101T073000Z\nDTEND:19900101T082000Z\n"
    event += "RRULE:FREQ=WEEKLY\nSUMMARY:wi"
    ics = write(tmp_path, "old.ics", calendar(event))
    last = MONDAY + timedelta(days=27)
    code, out, _ = run(
        capsys,
        db_url,
        "lessons",
        "import",
        ics,
        "--group",
        "3B",
        "--from",
        str(MONDAY),
        "--to",
        str(last),
    )
    assert code == 0 and "4 lessons" in out


def test_partial_keeps_the_good_events_and_lists_the_rest(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """--partial stores the good events and names the one left out."""
    good = weekly("good@school")
    bad = weekly("bad@school").replace("DTEND", "X-NOT-DTEND")
    ics = write(tmp_path, "mixed.ics", calendar(good, bad, header=VTIMEZONE_AMSTERDAM))
    code, out, _ = run(
        capsys, db_url, "lessons", "import", ics, "--mapping", "vak-klas-docent", "--partial"
    )
    assert code == 0 and "4 new" in out
    assert "left out: mixed.ics:" in out and "bad@school" in out
    assert counts(db_url) == (4, 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-12-01"], "--from '2026-13-01' is not a date"),
        (["--from", "2026-12-01"], "give both --from and --to"),
        (["--from", "2026-12-10", "--to", "2026-12-01"], "before its first day"),
        (["--from", "2026-01-01", "--to", "2027-12-31"], "longer than 400 days"),
        (["--mapping", "nonsense"], "no mapping preset or file 'nonsense'"),
    ],
)
def test_bad_options_exit_1(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path, argv: list[str], message: str
) -> None:
    """Wrong dates and unknown mappings are refused with the option named."""
    ics = write(tmp_path, "r.ics", calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM))
    code, out, err = run(capsys, db_url, "lessons", "import", ics, *argv)
    assert (code, out) == (1, "") and message in err, err


def test_a_missing_file_exits_1(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    """A file that does not exist is named."""
    code, _, err = run(capsys, db_url, "lessons", "import", "/nonexistent/rooster.ics")
    assert code == 1 and "/nonexistent/rooster.ics" in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    """The bar draws on a terminal and ends its line; elsewhere it writes nothing."""
    shown, hidden = Terminal(), io.StringIO()
    for stream in (shown, hidden):
        bar = Bar(stream, "r.ics")
        for done in range(1, 101):
            bar(done, 100)
        bar.close()
    assert hidden.getvalue() == ""
    lines = shown.getvalue().split("\r")
    assert lines[-1] == "r.ics [" + "#" * 30 + "] 100/100\n"
    assert len(lines) <= 32  # redrawn only when the bar moves


def test_a_plain_import_writes_nothing_to_a_non_terminal_stderr(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """Scripts get no progress bar on stderr."""
    ics = write(tmp_path, "r.ics", calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM))
    assert run(capsys, db_url, "lessons", "import", ics, "--group", "3B")[2] == ""


def test_a_mapping_file_is_read_and_remembered(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """--mapping FILE reads a TOML mapping; the source keeps it for the next import."""
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        'summary = {split = " / ", fields = ["group", "subject"]}\n'
        'location = "room"\nremote_markers = ["online"]\n'
    )
    ics = write(
        tmp_path,
        "r.ics",
        calendar(weekly("wi@school", summary="4A / wi online"), header=VTIMEZONE_AMSTERDAM),
    )
    assert run(capsys, db_url, "lessons", "import", ics, "--mapping", str(mapping))[0] == 0
    listed = json.loads(run(capsys, db_url, "lessons", "list", "--json")[1])
    assert {(r["group"], r["subject"], r["remote"]) for r in listed} == {("4A", "wi online", True)}
    sources = json.loads(run(capsys, db_url, "sources", "list", "--json")[1])
    assert sources[0]["mapping"] == "custom"
    code, out, _ = run(capsys, db_url, "lessons", "import", ics)
    assert code == 0 and "4 unchanged" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("summary = {split", "mapping.toml: not valid TOML"),
        ('summary = {split = " - ", fields = ["subject", "subject"]}', "names subject more than"),
        ('colour = "red"', "unknown keys ['colour']"),
    ],
)
def test_a_bad_mapping_file_is_refused(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path, text: str, message: str
) -> None:
    """A mapping file with a mistake is refused with the file's name and the reason."""
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(text)
    ics = write(tmp_path, "r.ics", calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM))
    code, _, err = run(capsys, db_url, "lessons", "import", ics, "--mapping", str(mapping))
    assert code == 1 and message in err, err
    assert counts(db_url) == (0, 0)


def test_a_saved_zermelo_answer_is_recognised(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    """A Zermelo appointments answer saved to a file imports like a sync would."""
    start = int(datetime.combine(MONDAY, time(8, 30), AMSTERDAM).timestamp())
    item = {
        "id": 1,
        "appointmentInstance": 9,
        "start": start,
        "end": start + 3000,
        "type": "lesson",
        "subjects": ["wi"],
        "groups": ["h3b"],
        "teachers": ["jdv"],
        "locations": ["217"],
        "valid": True,
        "cancelled": True,
    }
    body = json.dumps({"response": {"status": 200, "data": [item]}}).encode()
    path = write(tmp_path, "zermelo.json", body)
    code, out, _ = run(capsys, db_url, "lessons", "import", path)
    assert code == 0 and "1 new" in out
    listed = json.loads(run(capsys, db_url, "lessons", "list", "--json")[1])
    assert [(r["group"], r["cancelled"]) for r in listed] == [("h3b", True)]
