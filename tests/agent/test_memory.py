"""The agent's memory measures: freed heap handed back, requests' charset detection not loaded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.cli import main as agent_main
from agent.memory import skip_charset_detection, trim
from tests.agent.conftest import REPO, AgentProcess, Processes, wait_for
from tests.agent.standin import Standin

FAST = ("--sample-seconds", "1", "--grace-seconds", "0", "--upload-delay-max", "0")
LOADED = object()  # stands for an imported module in a module table


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trim_hands_freed_heap_memory_back_to_the_os() -> None:
    # 64 MiB in 1 KiB blocks (above Python's small-object limit, so glibc's malloc holds them);
    # one block in 16 stays alive, so the heap cannot simply shrink from its top when the rest
    # is freed: glibc keeps those pages until malloc_trim.
    blocks = [bytes(1024) for _ in range(64 * 1024)]
    keep = blocks[::16]
    del blocks
    held = psutil.Process().memory_info().rss
    assert trim() is True
    after = psutil.Process().memory_info().rss
    assert held - after > 16 * 2**20, (held, after)
    assert len(keep) == 4096


@pytest.mark.parametrize(
    ("table", "skipped", "after"),
    [
        ({}, True, {"charset_normalizer": None, "chardet": None}),
        (
            {"charset_normalizer": None, "chardet": None},
            True,
            {"charset_normalizer": None, "chardet": None},
        ),
        ({"requests": LOADED}, False, {"requests": LOADED}),
        ({"charset_normalizer": LOADED}, False, {"charset_normalizer": LOADED}),
        ({"chardet": LOADED}, False, {"chardet": LOADED}),
    ],
    ids=["fresh", "again", "requests-loaded", "detector-loaded", "chardet-loaded"],
)
def test_charset_detection_is_skipped_only_before_requests_or_a_detector_is_loaded(
    table: dict[str, Any], skipped: bool, after: dict[str, Any]
) -> None:
    assert skip_charset_detection(table) is skipped
    assert table == after


def test_run_called_with_arguments_leaves_the_callers_imports_alone(tmp_path: Path) -> None:
    # The tests (and any other caller passing argv) share their process with the agent's code.
    assert agent_main(["run", "--state-dir", str(tmp_path / "not-enrolled")]) == 1
    assert "requests" in sys.modules
    assert sys.modules.get("charset_normalizer", "not imported") is not None


@pytest.mark.slow
def test_the_agent_process_maps_no_charset_detection_or_xml_parser_and_still_reports(
    collector: Standin,
    enrolled: Path,
    agent_process: Callable[..., AgentProcess],
    processes: Processes,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    lesson_id = collector.add_lesson("3B", start, start + timedelta(seconds=5))
    processes.start("telegram-desktop")
    agent = agent_process(enrolled, *FAST)
    maps = Path(f"/proc/{agent.proc.pid}/maps")
    # Loaded once it monitors: psutil's extension for the processes probe, _ssl for requests.
    wait_for(lambda: "_psutil_linux" in maps.read_text(), timeout=15)
    loaded = maps.read_text()
    assert "_ssl." in loaded and "_sqlite3." in loaded
    for absent in ("charset_normalizer", "_codecs_jp", "_multibytecodec", "pyexpat"):
        assert absent not in loaded, absent
    wait_for(lambda: collector.reports(), timeout=30)
    (report,) = collector.reports()
    assert report["lesson_id"] == lesson_id
    assert "telegram" in {f["family"] for f in report["findings"]}
    time.sleep(0.5)
    assert agent.terminate() == 0
    assert "Warning" not in agent.output() and "Traceback" not in agent.output()


def test_the_agents_process_loads_no_group_chat_code_and_no_toml_parser() -> None:
    """What the running service imports (the modules of ``run``, its probes and its upload)
    leaves out the group-chat checks and the TOML parser: the agent builds its policy from
    the collector's JSON, and the memory is every laptop's (issue 15, point 7)."""
    code = (
        "import sys\n"
        "import agent.cli, agent.runner, agent.sampler, agent.config, agent.summary\n"
        "import agent.outbox, agent.uploader, agent.hub, agent.probes.processes\n"
        "print(sorted(m for m in ('policies.groupchat', 'tomllib') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
