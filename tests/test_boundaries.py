"""Import boundaries, written as import-linter contracts in pyproject.toml and checked here.

The contracts: service/ in layers (surfaces, subjects, the shared model), service.timetable pure,
the agent and the collector apart (they meet only in policies), policies standard-library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = [
    c["id"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the code under ``root`` (its own pyproject.toml), nothing cached."""
    selected = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache", *selected],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract_is_kept(contract: str) -> None:
    """Every contract in pyproject.toml holds for the code as it is."""
    result = lint_imports(ROOT, contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


# (file, the import added to it, the contract it must break)
BREAKS = [
    ("service/reports/numbers.py", "from service.web import render", "service-layers"),
    ("service/models.py", "from service.devices import registry", "service-layers"),
    ("service/web/chart.py", "from service.api import health", "service-layers"),
    ("service/timetable/model.py", "from service import models", "timetable-pure"),
    ("agent/summary.py", "from service import errors", "agent-service-apart"),
    ("policies/engine.py", "import sqlalchemy", "policies-stdlib"),
]


@pytest.mark.parametrize(("path", "line", "contract"), BREAKS)
def test_a_new_import_across_a_boundary_breaks_its_contract(
    tmp_path: Path, path: str, line: str, contract: str
) -> None:
    """A copy of the code with one import too many fails the contract that forbids it."""
    for part in ("service", "agent", "policies"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path, contract)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    module = path.removesuffix(".py").replace("/", ".")
    assert module in result.stdout


def test_packaging_folder_holds_no_python() -> None:
    """packaging/ is data only: a module there would shadow the 'packaging' library."""
    assert not list((ROOT / "packaging").rglob("*.py"))
