"""``sources`` commands with a feed on a loopback server: the secret goes in once and never out."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service import db
from service.cli.main import main
from service.models import Base, Lesson, TimetableSecret
from service.timetable_store import secretbox
from tests.support.schools import found_school
from tests.timetable.feeds import MONDAY, stamp, weekly
from tests.timetable.helpers import VTIMEZONE_AMSTERDAM, calendar
from tests.timetable.replay import Replay, replay_server

SECRET = "SEKRET-feed-token-42"
FEED = "/ical/feed.ics"


@pytest.fixture
def db_url(db_url: str) -> str:
    """The test's database with the school the commands work on: none founds one by itself."""
    return found_school(db_url)


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    # The replay server is on loopback, which the collector refuses unless told otherwise.
    monkeypatch.setenv("LESSONWATCH_FETCH_ALLOW_HOSTS", "127.0.0.1")
    with replay_server() as server:
        server.answer(
            FEED, calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM), kind="text/calendar"
        )
        yield server


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def everything_stored(db_url: str) -> str:
    """Every row of every table, as text: what an export or a database dump would show."""
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            return "\n".join(
                repr(conn.execute(select(table)).all()) for table in Base.metadata.sorted_tables
            )
    finally:
        engine.dispose()


def test_feed_source_round_trip_never_shows_the_secret(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    replay: Replay,
) -> None:
    """add, sync, list and remove work; the feed's token appears in no output and no table."""
    url = f"{replay.url}{FEED}?access_token={SECRET}"
    outputs = []

    def cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        result = run(capsys, monkeypatch, db_url, *argv, stdin=stdin)
        outputs.append(result[1] + result[2])
        return result

    code, out, _ = cli(
        "sources",
        "add",
        "rooster",
        "--kind",
        "ical_url",
        "--mapping",
        "vak-klas-docent",
        stdin=url + "\n",
    )
    assert (code, out) == (0, f"rooster\tical_url\t{replay.url}/...")
    code, out, _ = cli("sources", "sync", "rooster")
    assert code == 0 and out.startswith("rooster: ok: lessons 4, inserted 4")
    week2 = MONDAY + timedelta(days=7)
    cancelled = f"""UID:wi@school
RECURRENCE-ID;TZID=Europe/Amsterdam:{stamp(week2, "08:30")}
DTSTART;TZID=Europe/Amsterdam:{stamp(week2, "08:30")}
DTEND;TZID=Europe/Amsterdam:{stamp(week2, "09:20")}
STATUS:CANCELLED
SUMMARY:wi - 3B - jdv"""
    replay.answer(
        FEED,
        calendar(weekly("wi@school"), cancelled, header=VTIMEZONE_AMSTERDAM),
        kind="text/calendar",
    )
    code, out, _ = cli("sources", "sync")
    assert code == 0 and "cancelled 1" in out
    listed = json.loads(cli("lessons", "list", "--json")[1])
    assert [r["cancelled"] for r in listed] == [False, True, False, False]
    sources = json.loads(cli("sources", "list", "--json")[1])
    assert sources[0]["location"] == f"{replay.url}/..." and sources[0]["last_result"] == "ok"
    assert sources[0]["last_counts"]["cancelled"] == 1
    assert cli("sources", "list")[0] == 0
    assert [r.headers.get("authorization") for r in replay.requests(FEED)] == [None, None]
    stored = everything_stored(db_url)
    assert SECRET not in stored and "access_token" not in stored
    assert SECRET not in "\n".join(outputs)
    code, out, _ = cli("sources", "remove", "rooster")
    assert code == 0 and "4 lessons to come removed" in out
    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(Lesson.id)).all() == []
        assert conn.execute(select(TimetableSecret.source_id)).all() == []
    engine.dispose()


def test_the_generated_key_file_is_private(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    replay: Replay,
) -> None:
    """Without a configured key, the collector makes one readable by its own user only."""
    url = f"{replay.url}{FEED}?access_token={SECRET}"
    assert (
        run(
            capsys,
            monkeypatch,
            db_url,
            "sources",
            "add",
            "r",
            "--kind",
            "ical_url",
            "--group",
            "3B",
            stdin=url,
        )[0]
        == 0
    )
    mode = stat.S_IMODE(os.stat(secretbox.key_file()).st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--kind", "ical_url"], "http://school.example/feed.ics?t=SEKRET", "must use https"),
        (["--kind", "ical_url"], "ftp://school.example/feed.ics", "must be an https:// URL"),
        (["--kind", "ical_url"], "", "must be an https:// URL"),
        (["--kind", "zermelo"], "SEKRET", "the Zermelo portal URL must be an https:// URL"),
        (["--kind", "zermelo", "--portal", "https://s.zportal.nl"], "", "the Zermelo token"),
        (
            ["--kind", "zermelo", "--portal", "https://s.zportal.nl", "--param", "start=1"],
            "SEKRET",
            "query parameter 'start' cannot be set",
        ),
        (
            ["--kind", "zermelo", "--portal", "https://s.zportal.nl", "--param", "nokey"],
            "SEKRET",
            "is not KEY=VALUE",
        ),
        (["--kind", "ical_url", "--every", "1m"], "https://s.example/f?t=SEKRET", "at least 5 m"),
        (["--kind", "ical_url", "--days-ahead", "0"], "https://s.example/f?t=SEKRET", "days ahead"),
        (["--kind", "ical_url", "--mapping", "nope"], "https://s.example/f?t=SEKRET", "nope"),
    ],
)
def test_sources_add_refusals(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    """A bad source exits 1 with the reason, never echoing the secret, and stores nothing."""
    code, out, err = run(capsys, monkeypatch, db_url, "sources", "add", "x", *argv, stdin=stdin)
    assert (code, out) == (1, "") and message in err, err
    assert "SEKRET" not in err
    assert json.loads(run(capsys, monkeypatch, db_url, "sources", "list", "--json")[1]) == []


def test_duplicate_names_and_file_sources(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    tmp_path: Path,
) -> None:
    """A name is used once; a file source is re-imported, not synced; a feed is not imported."""
    feed = "https://school.example/feed.ics?t=SEKRET"
    assert (
        run(capsys, monkeypatch, db_url, "sources", "add", "r", "--kind", "ical_url", stdin=feed)[0]
        == 0
    )
    code, _, err = run(
        capsys, monkeypatch, db_url, "sources", "add", "r", "--kind", "ical_url", stdin=feed
    )
    assert code == 1 and "already a source 'r'" in err
    ics = tmp_path / "r.ics"
    ics.write_bytes(calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM))
    code, _, err = run(capsys, monkeypatch, db_url, "lessons", "import", str(ics), "--source", "r")
    assert code == 1 and "syncs by itself" in err
    assert run(capsys, monkeypatch, db_url, "lessons", "import", str(ics), "--group", "3B")[0] == 0
    code, _, err = run(capsys, monkeypatch, db_url, "sources", "sync", "r.ics")
    assert code == 1 and "import the file again" in err
    code, _, err = run(capsys, monkeypatch, db_url, "sources", "remove", "nothing")
    assert code == 1 and "no source 'nothing'" in err


def test_a_failed_sync_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    replay: Replay,
) -> None:
    """sources sync says why a source failed and exits 1; list shows the last error."""
    replay.answer(FEED, b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nbroken\r\n", kind="text/calendar")
    url = f"{replay.url}{FEED}?access_token={SECRET}"
    run(capsys, monkeypatch, db_url, "sources", "add", "r", "--kind", "ical_url", stdin=url)
    code, out, err = run(capsys, monkeypatch, db_url, "sources", "sync", "r")
    assert (code, out) == (1, "") and "r: refused: r" in err and SECRET not in err
    listed = json.loads(run(capsys, monkeypatch, db_url, "sources", "list", "--json")[1])
    assert listed[0]["last_result"] == "refused" and listed[0]["last_error"]
