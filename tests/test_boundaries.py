"""Import boundaries between the three parts, read from the source, not from what ran."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# part -> top-level packages it must never import
FORBIDDEN = {
    "policies": {"agent", "service"},
    "agent": {"service"},
    "service": {"agent"},
}
# The base install is the engine alone: standard library only.
POLICIES_THIRD_PARTY = {
    "fastapi",
    "sqlalchemy",
    "requests",
    "psutil",
    "watchdog",
    "apscheduler",
    "jinja2",
    "pydantic",
    "httpx",
    "uvicorn",
    "icalendar",
    "platformdirs",
    "psycopg",
    "alembic",
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_parts_do_not_import_each_other(part: str) -> None:
    """policies imports neither agent nor service; agent and service never import each other."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[part])
        for path in (ROOT / part).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_policies_needs_no_third_party_package() -> None:
    """A plain install of the base package needs nothing outside the standard library."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & POLICIES_THIRD_PARTY)
        for path in (ROOT / "policies").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_packaging_folder_holds_no_python() -> None:
    """packaging/ is data only: a module there would shadow the 'packaging' library."""
    assert not list((ROOT / "packaging").rglob("*.py"))
