"""docs/policy.md stays true to the shipped policy."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from policies import Policy, Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")


def table_rows(heading: str) -> list[list[str]]:
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ][1:]


def test_every_rule_is_documented_with_its_article(shipped: Policy) -> None:
    """The rules table lists every shipped rule with its article and default state."""
    rows = {row[0].strip("`"): row for row in table_rows("The rules")}
    assert set(rows) == {rule.id for rule in shipped.rules}
    for rule in shipped.rules:
        row = rows[rule.id]
        assert row[1] == rule.article
        assert row[5].startswith("yes" if rule.enabled else "no")
        for category in rule.categories:
            assert category in row[3]


def test_every_setting_is_documented_with_its_default() -> None:
    """The settings table lists every setting and its default value."""
    rows = {row[0].strip("`"): row for row in table_rows("Settings")}
    assert set(rows) == {f.name for f in fields(Settings)}
    defaults = Settings()
    for name, row in rows.items():
        value = getattr(defaults, name)
        shown = re.sub(r"[`\"\[\]]", "", row[1])
        if isinstance(value, bool):
            assert shown == str(value).lower()
        elif isinstance(value, frozenset):
            assert set(shown.split(", ")) == value
        else:
            assert shown == str(value)


def test_every_category_is_documented(shipped: Policy) -> None:
    """The categories table names every shipped category."""
    rows = {row[0].strip("`") for row in table_rows("Categories and signals")}
    assert rows == set(shipped.categories)
