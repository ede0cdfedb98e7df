"""The extension's JS engine and summary give the Python answers (browser/tools/vectors.py).

Two halves, so that a change on either side fails here: the checked-in vectors must be what
the Python code answers now, and the JS code must give the checked-in answers.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "browser"
TESTS = BROWSER / "test"


def _vectors_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("browser_vectors", BROWSER / "tools/vectors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_vectors_and_bundled_policy_are_what_the_python_code_answers_now() -> None:
    vectors = _vectors_module()
    bundled = (BROWSER / "policy.json").read_text(encoding="utf-8")
    assert vectors.render_policy() == bundled, "run `python browser/tools/vectors.py`"
    checked_in = (BROWSER / "test/vectors.json").read_text(encoding="utf-8")
    assert vectors.render() == checked_in, (
        "policies/ or agent/summary.py changed what they answer: run "
        "`python browser/tools/vectors.py`, then make browser/src/ give the new answers"
    )


def test_js_engine_summary_plan_and_worker_pass_their_node_tests() -> None:
    """The JS against the vectors, and the worker with a fake chrome.* (browser/test/)."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the extension's tests (./dev installs it)"
    done = subprocess.run(
        # The files by name: Node versions differ in how they search a folder given to --test.
        [node, "--test", "--test-reporter=tap", *sorted(str(p) for p in TESTS.glob("*.test.js"))],
        cwd=BROWSER,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", done.stdout, re.M)
    assert passed and int(passed.group(1)) >= 8, done.stdout[-4000:]
    assert re.search(r"^# fail 0$", done.stdout, re.M), done.stdout[-4000:]
