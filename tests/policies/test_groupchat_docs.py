"""docs/groupchats.md stays true to the check and the shipped platform catalog."""

from __future__ import annotations

from pathlib import Path

from policies.groupchat import CODES, FIELDS, load_platforms

DOC = (Path(__file__).resolve().parents[2] / "docs" / "groupchats.md").read_text(encoding="utf-8")


def table_rows(heading: str) -> list[list[str]]:
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ][1:]


def test_every_code_is_documented_with_its_article_and_severity() -> None:
    """The checks table lists every code with its article and severity, and each has a section."""
    rows = {row[0].strip("`"): row for row in table_rows("The checks")}
    assert set(rows) == set(CODES)
    for code, ((_, article), severity) in CODES.items():
        assert rows[code][1:3] == [article, severity]
        assert f"### `{code}` ({article}, {severity})" in DOC


def test_every_platform_is_documented_as_shipped() -> None:
    """The platform table matches platforms.toml, row for row."""
    rows = {row[0].strip("`"): row for row in table_rows("The platform catalog")}
    catalog = load_platforms()
    assert set(rows) == set(catalog.platforms)
    for platform in catalog:
        assert rows[platform.id] == [
            f"`{platform.id}`",
            platform.name,
            platform.kind,
            "yes" if platform.closed else "no",
            str(platform.minimum_age) if platform.minimum_age else "none",
            "yes" if platform.consent_under_16 else "no",
            platform.confidence,
            platform.checked.isoformat(),
            platform.source or "none found",
        ]


def test_every_declared_field_is_documented() -> None:
    """The table of what a teacher declares lists exactly the fields validate_chat reads."""
    rows = {row[0].strip("`") for row in table_rows("What a teacher declares")}
    assert rows == set(FIELDS)
