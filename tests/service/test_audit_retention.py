"""The audit log's own retention (issue 13): each school's entries, with the reasons written in
them, go after the school's ``audit_retention_days``; entries of no school after the default."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import audit
from service.cli.main import main
from service.errors import InvalidRequest
from service.models import AuditEntry
from service.retention import purge as retention
from service.schools import registry as schools
from tests.support.clock import DEMO_NOW
from tests.support.schools import found_school
from tests.support.web import Demo, signed_in

NOW = DEMO_NOW
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("days", "ok"),
    [
        (retention.AUDIT_DAYS_MIN - 1, False),
        (retention.AUDIT_DAYS_MIN, True),
        (retention.AUDIT_DAYS_DEFAULT, True),
        (retention.AUDIT_DAYS_MAX, True),
        (retention.AUDIT_DAYS_MAX + 1, False),
        (0, False),
        (-365, False),
    ],
)
def test_audit_retention_is_bounded(days: int, ok: bool) -> None:
    """A school keeps its audit log at least a quarter and at most ten years."""
    if ok:
        assert retention.check_audit_days(days) == days
    else:
        with pytest.raises(InvalidRequest, match="audit log retention"):
            retention.check_audit_days(days)


def test_the_purge_keeps_each_schools_audit_log_for_its_own_period(
    sessions: sessionmaker[Session],
) -> None:
    """Entries older than their school's setting go, with their reasons; newer ones stay; an
    entry of no school goes after the default, whatever the schools chose."""
    with sessions.begin() as session:
        short = schools.school(session, "Kort")
        short.audit_retention_days = 100
        long = schools.school(session, "Lang")  # the default: 365
        entries = [
            (short.id, 99, "kort-bewaard"),
            (short.id, 101, "kort-weg"),
            (long.id, 101, "lang-bewaard"),
            (long.id, 364, "lang-bewaard-2"),
            (long.id, 366, "lang-weg"),
            (None, 364, "niemand-bewaard"),
            (None, 366, "niemand-weg"),
        ]
        for school_id, age, reason in entries:
            audit.record(
                session,
                actor="user:x",
                school_id=school_id,
                action="devices.view",
                obj=None,
                now=NOW - age * DAY,
                reason=reason,
            )
    with sessions.begin() as session:
        result = retention.purge(session, now=NOW)
    assert result.audit_deleted == 3
    with sessions.begin() as session:
        kept = sorted(str(e.reason) for e in session.scalars(select(AuditEntry)))
    assert kept == ["kort-bewaard", "lang-bewaard", "lang-bewaard-2", "niemand-bewaard"]


def test_schools_set_changes_the_audit_retention_within_bounds(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    """``schools set --audit-retention-days`` stores a value in range and refuses others."""
    found_school(db_url)
    assert main(["schools", "set", "--audit-retention-days", "730", "--db", db_url]) == 0
    assert main(["schools", "set", "--audit-retention-days", "30", "--db", db_url]) == 1
    assert main(["schools", "show", "--db", db_url]) == 0
    out, err = capsys.readouterr()
    assert '"audit_retention_days": 730' in out and "audit log retention" in err


@pytest.mark.parametrize(("value", "status", "stored"), [("730", 303, 730), ("30", 422, 365)])
def test_the_school_page_sets_the_audit_retention(
    demo_sqlite: Demo, value: str, status: int, stored: int
) -> None:
    """The school settings form has the audit retention; a value out of range changes nothing."""
    admin = signed_in(demo_sqlite, "beheer")
    assert 'name="audit_retention_days" value="365"' in admin.get("/admin/school").text
    form = {
        "retention_days": "28",
        "audit_retention_days": value,
        "small_count_threshold": "3",
        "disclosure": "aggregate",
        "admin_disclosure": "aggregate",
    }
    answer = admin.post("/admin/school", form, csrf_from="/admin/school")
    assert answer.status_code == status, answer.text
    with demo_sqlite.sessions.begin() as session:
        assert schools.school(session, "Demo school").audit_retention_days == stored
