"""``./dev demo`` shows every feature (issue 17, point 12): group chats, holidays, a timetable
source, future lessons, a per-device view with its reason, a policy override, each made by the
operation a person would use, on a copy of the demo school the page tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit, db
from service.demo import data as demo_data
from service.demo import showcase
from service.groupchats import register as groupchats
from service.models import Lesson, User
from service.schools import policy as school_policy
from service.schools import registry as schools
from service.timetable_store import holidays, sources
from tests.support.clock import DEMO_NOW
from tests.support.databases import DemoDatabase


@pytest.fixture
def shown(demo_db_sqlite: DemoDatabase) -> Iterator[tuple[Session, showcase.Showcase]]:
    engine = db.make_engine(demo_db_sqlite.url)
    try:
        with db.session_factory(engine).begin() as session:
            yield session, showcase.seed(session, demo_db_sqlite.school, now=DEMO_NOW)
    finally:
        engine.dispose()


def test_the_demo_shows_every_feature(shown: tuple[Session, showcase.Showcase]) -> None:
    session, made = shown
    school = schools.school(session, demo_data.SCHOOL)
    leader = session.scalars(select(User).where(User.username == "leiding")).one()
    catalog = groupchats.shipped_catalog()

    # The register: 3B's WhatsApp chat breaks B.1, 4A's on Magister has no finding.
    chats = groupchats.listing(session, viewer=leader, catalog=catalog, now=DEMO_NOW)
    found = {c.id: {f["article"] for f in c.findings} for c in chats}
    assert set(found) == set(made.chats)
    assert "B.1" in found[made.chats[0]] and found[made.chats[1]] == set()

    # Holidays: the school's own week for region midden, the region chosen.
    assert school.holiday_region == "midden"
    rows = holidays.rows(session, school_id=school.id, region="midden")
    assert [(h.name, h.first_day) for h in rows] == [(showcase.HOLIDAY, made.holiday_first_day)]

    # A timetable source, and next week's lessons whatever the weekday.
    assert [s.name for s in sources.list_sources(session, school=school)] == [made.source]
    later = select(func.count()).select_from(Lesson).where(Lesson.start > DEMO_NOW)
    assert len(made.next_week) == 30 and (session.scalar(later) or 0) >= 30

    # The override is in force: the video-platform rule on, a grace of 30 s.
    policy = school_policy.policy_of(school)
    assert policy.rule("a1-video-streaming").enabled and policy.settings.grace_seconds == 30

    # The leader saw per-device numbers of a finished lesson, for a reason the log keeps.
    assert school.disclosure == "pseudonymous"
    [view] = audit.entries(session, school_id=school.id, action="devices.view")
    assert (view.actor, view.object, view.reason) == (
        "user:leiding",
        f"lesson:{made.viewed_lesson}",
        showcase.REASON,
    )
    assert session.get_one(Lesson, made.viewed_lesson).end <= DEMO_NOW
    # Each made by its operation, so each is in the audit log as a school's would be.
    actions = {e.action for e in audit.entries(session, school_id=school.id)}
    assert actions >= {
        "groupchat.create",
        "holidays.import",
        "school.holiday_region",
        "timetable.source_add",
        "policy.save",
        "school.settings",
    }
