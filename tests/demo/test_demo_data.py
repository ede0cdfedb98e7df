"""The demo school's stored findings are what the engine would report: the one transparency
story (issue 17, point 10) starts with the demo not inventing a category for an app."""

from __future__ import annotations

from sqlalchemy import select

from policies import load_policy
from policies.explain import explain_data
from service import db
from service.models import DeviceLessonSummary
from tests.support.databases import DemoDatabase


def test_every_demo_finding_has_its_catalog_category_rule_and_article(
    demo_db_sqlite: DemoDatabase,
) -> None:
    policy = load_policy()
    engine = db.make_engine(demo_db_sqlite.url)
    try:
        with engine.connect() as conn:
            stored = list(conn.scalars(select(DeviceLessonSummary.summary)))
    finally:
        engine.dispose()
    findings = [f for data in stored for f in data["findings"]]
    assert {f["family"] for f in findings} >= {"instagram", "snipping_tool"}
    for f in findings:
        rule = policy.rule(f["rule"])
        assert f["category"] == policy.families[f["family"]].category, f
        assert f["category"] in rule.categories and f["article"] == rule.article, f
    # The words match too: the report's label of Snipping Tool's category is the heading /privacy
    # and explain list it under, in both languages.
    snipping = policy.categories[policy.families["snipping_tool"].category]
    for lang, label in (("nl", "schermopname"), ("en", "screen recording")):
        assert snipping.label(lang) == label
        assert "Snipping Tool" in explain_data(policy, lang)["apps"][label]
