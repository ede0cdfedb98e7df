"""Outbound fetches refuse this machine and internal networks (issue 14, part 5).

A phished admin account could add a feed or a Zermelo portal pointing at loopback, the school
network or a cloud metadata service, and read the answers back through the sync's error. Each
attack below is a real sync against a real server on loopback (or an address nothing listens
on, refused before any connection is tried), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

from service.cli.main import main
from service.schools import registry as schools
from service.settings import Settings
from service.timetable_store import outbound, sources, sync
from tests.support.clock import TIMETABLE_NOW
from tests.support.schools import found_school
from tests.timetable.feeds import weekly
from tests.timetable.helpers import VTIMEZONE_AMSTERDAM, calendar
from tests.timetable.replay import Replay, replay_server

NOW = TIMETABLE_NOW
KEY = Fernet.generate_key().decode()
FEED = "/feed.ics"
INTERNAL = "the host is on this machine or an internal network"


@pytest.fixture
def replay() -> Iterator[Replay]:
    with replay_server() as server:
        server.answer(
            FEED, calendar(weekly("wi@school"), header=VTIMEZONE_AMSTERDAM), kind="text/calendar"
        )
        yield server


def settings(db_url: str, allow: str = "") -> Settings:
    return Settings(db=db_url, secret_key=KEY, purge_interval_seconds=0, fetch_allow_hosts=allow)


def sync_feed(sessions: sessionmaker[Session], config: Settings, url: str) -> sync.Outcome:
    with sessions.begin() as session:
        source_id = sources.add_source(
            session,
            school=schools.school(session),
            settings=config,
            name="feed",
            kind="ical_url",
            now=NOW,
            secret=url,
            mapping="vak-klas-docent",
        ).id
    return sync.sync_one(sessions, config, source_id=source_id, now=NOW)


# Addresses: refused unless globally routable.
@pytest.mark.parametrize(
    ("address", "refused"),
    [
        # this machine
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("::", True),
        # internal networks and CGNAT
        ("10.1.2.3", True),
        ("172.16.0.9", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("fd00::1", True),
        # link-local: the cloud metadata services
        ("169.254.169.254", True),
        ("fe80::1%1", True),
        ("fd00:ec2::254", True),
        # multicast, reserved, documentation
        ("224.0.0.1", True),
        ("ff02::1", True),
        ("240.0.0.1", True),
        ("2001:db8::1", True),
        # the internet
        ("8.8.8.8", False),
        ("145.21.1.1", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_only_globally_routable_addresses_may_be_fetched(address: str, refused: bool) -> None:
    assert outbound.refused_address(address) is refused


@pytest.mark.parametrize(
    "url",
    [
        "REPLAY/feed.ics",  # loopback by address
        "http://localhost:PORT/feed.ics",  # a name that resolves to loopback
        "https://10.0.0.7/feed.ics",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    ],
)
def test_a_feed_on_this_machine_or_an_internal_network_is_refused(
    db_url: str, sessions: sessionmaker[Session], replay: Replay, url: str
) -> None:
    """The sync fails with our own reason and no connection is made; nothing is stored."""
    url = url.replace("REPLAY", replay.url).replace("PORT", replay.url.rsplit(":", 1)[1])
    outcome = sync_feed(sessions, settings(db_url), url)
    assert outcome.result == "failed"
    assert INTERNAL in (outcome.error or "")
    assert replay.requests(FEED) == []


def test_a_feed_on_an_allowed_host_is_fetched(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """The operator may allow a host explicitly (``fetch_allow_hosts``): then it syncs."""
    outcome = sync_feed(sessions, settings(db_url, allow="127.0.0.1"), replay.url + FEED)
    assert outcome.result == "ok", outcome.error
    assert len(replay.requests(FEED)) == 1


def test_a_redirect_from_an_allowed_host_to_a_refused_one_is_not_followed(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """127.0.0.1 is allowed, ``localhost`` is not: the redirect's target is checked again."""
    port = replay.url.rsplit(":", 1)[1]
    replay.redirect("/moved.ics", f"http://localhost:{port}{FEED}")
    outcome = sync_feed(sessions, settings(db_url, allow="127.0.0.1"), replay.url + "/moved.ics")
    assert outcome.result == "failed"
    assert INTERNAL in (outcome.error or "")
    assert len(replay.requests("/moved.ics")) == 1
    assert replay.requests(FEED) == []


def test_a_failing_server_s_answer_is_not_quoted_in_the_error(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """A 500 whose status line and body carry a secret: the error names only the status."""
    replay.answer("/down.ics", b"db password: hunter2-body", status=500)
    replay.reason = "hunter2-reason"
    outcome = sync_feed(sessions, settings(db_url, allow="127.0.0.1"), replay.url + "/down.ics")
    assert outcome.result == "failed"
    assert "HTTP 500 Internal Server Error" in (outcome.error or "")
    assert "hunter2" not in (outcome.error or "")


def test_a_zermelo_portal_at_the_cloud_metadata_address_is_refused(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    """The Zermelo fetch goes through the same check as the feeds."""
    config = settings(db_url)
    with sessions.begin() as session:
        source_id = sources.add_source(
            session,
            school=schools.school(session),
            settings=config,
            name="zermelo",
            kind="zermelo",
            now=NOW,
            secret="token-1",
            portal="https://169.254.169.254",
        ).id
    outcome = sync.sync_one(sessions, config, source_id=source_id, now=NOW)
    assert outcome.result == "failed"
    assert INTERNAL in (outcome.error or "")


def test_the_holiday_import_command_refuses_loopback(
    capsys: pytest.CaptureFixture[str], db_url: str, replay: Replay
) -> None:
    """``holidays import <url>`` checks the address too; the server is never asked."""
    replay.answer("/holidays.json", b"[]", kind="application/json")
    found_school(db_url)
    code = main(["holidays", "import", replay.url + "/holidays.json", "--db", db_url])
    _, err = capsys.readouterr()
    assert code != 0
    assert INTERNAL in err
    assert replay.requests("/holidays.json") == []
