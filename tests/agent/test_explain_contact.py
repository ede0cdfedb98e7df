"""``explain`` tells pupils when their device talks to the school's server (issue 15, point 3),
with the values the agent runs with, in Dutch and English."""

from __future__ import annotations

import contextlib
import io
import json
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.cli import main as agent_main
from agent.config import Lesson, save_cache
from agent.explain import render
from agent.paths import StatePaths
from agent.schedule import contact_windows
from policies import load_policy
from tests.agent.helpers import config_body
from tests.support.clock import utc

AMS = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
# Tuesday: 09:30 and 15:00 in Amsterdam.
LESSONS = [Lesson("l_1", utc(8, 30), utc(9, 20)), Lesson("l_2", utc(14), utc(14, 50))]


def tomorrow_at(hour: int, tz: ZoneInfo) -> datetime:
    """A coming lesson start at a fixed hour of the zone's day, in UTC: a window near local
    midnight would print its end's date too."""
    day = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(day, time(hour), tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("lang", "rule", "window"),
    [
        (
            "en",
            "It talks to the server from 30 minutes before the first lesson of a school day."
            " It stops 30"
            " minutes after the last summary of the day may be sent. Once on a school day"
            " (Monday to Friday, 07:00–17:00) it fetches the timetable.",
            "When this device may talk to the school's server (Europe/Amsterdam):",
        ),
        (
            "nl",
            "Het heeft contact met de server vanaf 30 minuten voor de eerste les van een"
            " schooldag. Het stopt 30 minuten nadat de laatste samenvatting van de dag verstuurd"
            " mag worden. Eén keer op een schooldag (maandag tot en met vrijdag, 07:00–17:00)",
            "Wanneer dit apparaat contact mag hebben met de server van school (Europe/Amsterdam):",
        ),
    ],
)
def test_explain_shows_the_contact_windows_in_force(lang: str, rule: str, window: str) -> None:
    """The rule with its numbers, and each coming window in the school's zone."""
    policy = load_policy()
    spread = timedelta(seconds=policy.settings.upload_delay_max_seconds)
    windows = contact_windows(LESSONS, spread)
    text = render(policy, lang, LESSONS, utc(7), AMS, [], None, windows)  # type: ignore[arg-type]
    flat = " ".join(text.split())
    assert " ".join(rule.split()) in flat
    assert window in text
    assert "  2026-11-24 09:00–16:22" in text.splitlines()


def test_explain_lists_the_coming_windows_from_the_cached_config(tmp_path: Path) -> None:
    """The command reads the timetable on disk and shows the windows of the coming days,
    with the upload spread the running agent uses."""
    paths = StatePaths(tmp_path / "state").ensure()
    start = tomorrow_at(10, AMS)  # a window that stays on one local day
    save_cache(paths.config, config_body([("l_9", start, start + timedelta(minutes=50))]), None)
    paths.status.write_text('{"pid": 0, "settings": {"upload_delay_max_seconds": 600}}')
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert agent_main(["explain", "--state-dir", str(paths.root), "--lang", "en"]) == 0
    text = buffer.getvalue()
    opens = (start - timedelta(minutes=30)).astimezone(AMS)
    closes = (start + timedelta(minutes=50 + 10 + 30)).astimezone(AMS)
    assert f"  {opens:%Y-%m-%d %H:%M}–{closes:%H:%M}" in text
    assert "The summary is sent within 600 seconds after the lesson ends." in text


def test_docs_state_the_contact_windows_in_force() -> None:
    """docs/agent.md names the lead, tail, school hours, enrolment grace and session the
    planner uses: change one and the docs must follow."""
    from agent import schedule

    docs = " ".join((Path(__file__).resolve().parents[2] / "docs" / "agent.md").read_text().split())
    lead = int(schedule.CONTACT_LEAD.total_seconds() // 60)
    tail = int(schedule.CONTACT_TAIL.total_seconds() // 60)
    hours = f"{schedule.SCHOOL_HOURS[0]:%H:%M}–{schedule.SCHOOL_HOURS[1]:%H:%M}"
    for phrase in (
        f"from {lead} minutes before the first lesson of a school day until {tail} minutes after",
        f"lessons less than {int(schedule.DAY_GAP.total_seconds() // 3600)} hours apart",
        f"Monday to Friday, {hours} in the school's time zone",
        f"in the {int(schedule.ENROLMENT_CONTACT.total_seconds() // 60)} minutes after enrolment",
        f"in the same {int(schedule.CONTACT_SESSION.total_seconds() // 60)} minutes",
    ):
        assert phrase in docs, phrase


def test_status_and_explain_print_the_schools_local_time_with_its_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A school in New York on a machine set to Amsterdam: status and explain print the
    lesson, the contact window and when a summary was sent on New York's clock, the zone named;
    status --json keeps UTC."""
    from agent.outbox import Outbox

    paths = StatePaths(tmp_path / "state").ensure()
    school = {"name": "Demo", "timezone": "America/New_York"}
    start = tomorrow_at(10, NEW_YORK)
    end = start + timedelta(minutes=50)
    save_cache(paths.config, config_body([("l_9", start, end)], school=school), None)
    box = Outbox(paths.outbox)
    box.remember_sent(['{"report_id":"6f1c2a4e-0000-4000-8000-000000000001"}'], utc(9, 45))
    box.close()
    there, until = start.astimezone(NEW_YORK), end.astimezone(NEW_YORK)
    lesson = f"{there:%Y-%m-%d %H:%M}–{until:%H:%M} {until.tzname()}"

    # The running agent (this process stands in for it) monitors a lesson ending at 09:20 UTC.
    running = {"lesson_id": "l_8", "start": utc(8, 30).isoformat(), "end": utc(9, 20).isoformat()}
    paths.status.write_text(json.dumps({"pid": os.getpid(), "monitoring": running}))
    assert agent_main(["status", "--state-dir", str(paths.root)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "monitoring: ACTIVE, lesson l_8 until 04:20 EST" in shown
    assert f"  lesson l_9: {lesson}" in shown
    assert agent_main(["status", "--state-dir", str(paths.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["next_lessons"][0]["start"] == start.isoformat()

    assert agent_main(["explain", "--state-dir", str(paths.root), "--lang", "en"]) == 0
    text = capsys.readouterr().out
    assert "When checking happens (America/New_York):" in text
    assert f"  {there:%Y-%m-%d %H:%M}–{until:%H:%M}" in text.splitlines()
    # 09:45 UTC on 24 November is 04:45 in New York (EST, UTC-5).
    assert "(sent at 2026-11-24 04:45 EST)" in text
