"""axe-core, the accessibility checker, run inside a Playwright page (WCAG 2.1 A and AA).

axe-core comes from the npm registry, pinned in the root package.json and package-lock.json;
``./dev test`` runs ``npm ci`` before the tests. Without it a check skips on a developer's
machine and fails under CI, like a missing Chromium (tests/support/browser.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# What the issue asks to be gone; "moderate" and "minor" are reported by axe but not failed on.
BLOCKING = frozenset({"serious", "critical"})


def require_axe() -> Path:
    """The axe-core script; skips without it, or fails when ``CI=true``."""
    if not AXE.exists():
        message = f"{AXE} is missing (run `npm ci` at the repository root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return AXE


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.impact} {self.rule} ({self.help}): {', '.join(self.targets[:4])}"


def install(context: BrowserContext) -> None:
    """Load axe-core into every page the context opens from now on.

    An init script, not ``page.add_script_tag``: Chromium is handed the 550 kB once per context
    instead of once per page, compiles it once per renderer, and the page's own
    Content-Security-Policy (scripts only from /static) stays in force for the page itself.
    """
    context.add_init_script(path=require_axe())


def violations(page: Page, *, impacts: frozenset[str] = BLOCKING) -> list[Violation]:
    """Run axe on the page as it is now; the violations of the given impacts."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(require_axe()))  # a context without install()
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_21_AA,
    )
    return [
        Violation(
            v["id"],
            v["impact"],
            v["help"],
            tuple(" ".join(map(str, node["target"])) for node in v["nodes"]),
        )
        for v in result["violations"]
        if v["impact"] in impacts
    ]
