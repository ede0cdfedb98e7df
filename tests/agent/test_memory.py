"""The agent's memory measures: freed heap handed back, unused parts of libraries not loaded."""

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
from agent.standins import LEFT_OUT, standin, standing_in
from tests.agent.conftest import REPO, AgentProcess, Processes
from tests.agent.standin import Standin
from tests.support.waiting import wait_for

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
def test_the_agent_process_maps_no_http_stack_charset_detection_or_asyncio_and_reports(
    collector: Standin,
    enrolled: Path,
    agent_process: Callable[..., AgentProcess],
    processes: Processes,
) -> None:
    """The service talks to the collector through short-lived processes (agent.remote): before
    and after its upload it has mapped neither ssl nor any other part of requests' stack."""
    start = datetime.now(UTC).replace(microsecond=0)
    lesson_id = collector.add_lesson("3B", start, start + timedelta(seconds=5))
    processes.start("telegram-desktop")
    agent = agent_process(enrolled, *FAST)
    maps = Path(f"/proc/{agent.proc.pid}/maps")
    # Loaded once it monitors: psutil's extension for the processes probe.
    wait_for(lambda: "_psutil_linux" in maps.read_text(), timeout=15)
    while_monitoring = maps.read_text()
    assert "_sqlite3." in while_monitoring
    wait_for(lambda: collector.reports(), timeout=30)
    after_upload = maps.read_text()
    for loaded in (while_monitoring, after_upload):
        for absent in (
            "_ssl.", "charset_normalizer", "_codecs_jp", "_multibytecodec", "pyexpat",
            "_asyncio.", "_multiprocessing.", "_pickle.",
        ):  # fmt: skip
            assert absent not in loaded, absent
    output = reports_telegram_and_stops(collector, lesson_id, agent)
    assert "Warning" not in output and "Traceback" not in output


def reports_telegram_and_stops(collector: Standin, lesson_id: str, agent: AgentProcess) -> str:
    """Wait for the lesson's one summary, which finds Telegram; stop the agent cleanly; its
    output."""
    wait_for(lambda: collector.reports(), timeout=30)
    (report,) = collector.reports()
    assert report["lesson_id"] == lesson_id
    assert "telegram" in {f["family"] for f in report["findings"]}
    time.sleep(0.5)
    assert agent.terminate() == 0
    return agent.output()


# What the running service imports (the modules of ``run``, its probes and its upload), prepared
# as ``main`` prepares the service's own process.
SERVICE_IMPORTS = (
    "import sys\n"
    "import agent.cli\n"
    "agent.cli.lighten_service()\n"
    "import agent.runner, agent.sampler, agent.config, agent.summary, agent.outbox\n"
    "import agent.uploader, agent.hub, agent.probes.processes, agent.probes.capture\n"
)


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_service_loads_no_group_chat_code_toml_parser_asyncio_process_pool_or_http() -> None:
    """The service leaves out the group-chat checks and the TOML parser (it builds its policy
    from the collector's JSON), what APScheduler imports for coroutines and process pools, and
    requests' whole stack (each contact runs in agent.remote's short-lived process): the memory
    is every laptop's (issue 15, point 7)."""
    absent = (
        "policies.groupchat", "tomllib", "asyncio", "multiprocessing",
        "concurrent.futures.process", "pickle", "requests", "urllib3", "ssl", "http.client",
        "email.parser", "idna", "certifi",
    )  # fmt: skip
    code = SERVICE_IMPORTS + f"print(sorted(m for m in {absent!r} if m in sys.modules))\n"
    assert run_python(code) == "[]"


def test_after_the_scheduler_is_imported_the_real_modules_import_and_apscheduler_works() -> None:
    """The stand-ins live only while APScheduler imports: later imports get the real modules,
    and what APScheduler took from a stand-in behaves as the real thing."""
    code = SERVICE_IMPORTS + (
        "import asyncio, multiprocessing, concurrent.futures.process as pool\n"
        "from apscheduler.util import iscoroutinefunction\n"
        "from apscheduler.executors import pool as aps_pool\n"
        "async def coroutine(): pass\n"
        "def plain(): pass\n"
        "print(asyncio.run(asyncio.sleep(0, 'real')), multiprocessing.cpu_count() > 0,\n"
        "      iscoroutinefunction(coroutine), iscoroutinefunction(plain),\n"
        "      aps_pool.multiprocessing.get_context is multiprocessing.get_context,\n"
        "      pool.BrokenProcessPool.__module__)\n"
    )
    assert run_python(code) == "real True True False True concurrent.futures.process"


@pytest.mark.parametrize(
    ("table", "placed"),
    [
        ({}, list(LEFT_OUT)),
        ({"asyncio": LOADED}, [n for n in LEFT_OUT if n != "asyncio"]),
        (dict.fromkeys(LEFT_OUT, LOADED), []),
    ],
    ids=["none-loaded", "asyncio-loaded", "all-loaded"],
)
def test_stand_ins_take_only_the_places_of_modules_not_loaded_and_leave_afterwards(
    table: dict[str, Any], placed: list[str]
) -> None:
    """A module already loaded stays the real one; a stand-in is gone once the block ends."""
    before = dict(table)
    with standing_in(table) as names:
        assert names == placed
        assert all(table[name].__name__ == name and table[name] is not LOADED for name in placed)
    assert table == before


def test_a_stand_in_lends_other_names_from_the_real_module_but_never_from_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outside the module table a missing name is the real module's; inside, it is missing
    (the real module cannot be imported while the stand-in takes its place)."""
    import json

    lent = standin("json", {"loads": "stand-in's own"})
    assert lent.loads == "stand-in's own"
    assert lent.dumps is json.dumps
    alone = standin("lessonwatch_stand_in_test", {})
    monkeypatch.setitem(sys.modules, "lessonwatch_stand_in_test", alone)
    with pytest.raises(AttributeError, match="not in the stand-in"):
        alone.anything  # noqa: B018


# The installed services run the agent with these (docs/performance.md, "Agent"): no docstrings
# and asserts, no column tables, the bytecode in a cache the installer compiled.
SERVICE_FLAGS = {"PYTHONOPTIMIZE": "2", "PYTHONNODEBUGRANGES": "1"}


def test_the_cli_answers_under_the_services_flags(tmp_path: Path) -> None:
    """Nothing the agent says depends on docstrings or asserts: help and version under -OO."""
    env = {**SERVICE_FLAGS, "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc"), "PYTHONPATH": str(REPO)}

    def agent(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", *args],
            capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False,
        )  # fmt: skip

    said = {args: agent(*args) for args in (("--help",), ("run", "--help"), ("--version",))}
    assert [done.returncode for done in said.values()] == [0, 0, 0]
    assert "checks only during scheduled lessons" in said[("--help",)].stdout
    assert "--helper-socket" in said[("run", "--help")].stdout
    assert said[("--version",)].stdout.startswith("lessonwatch-agent ")
    assert list((tmp_path / "pyc").rglob("cli.cpython-*.opt-2.pyc")), "it ran optimised"


@pytest.mark.slow
def test_the_agent_monitors_and_reports_under_the_services_flags(
    collector: Standin,
    enrolled: Path,
    agent_process: Callable[..., AgentProcess],
    processes: Processes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The run path (scheduler, probes, engine, outbox, upload) under -OO and without column
    tables finds what it finds without them."""
    for name, value in {**SERVICE_FLAGS, "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # the cache shows what ran
    # As the installers do, compile ahead: on a busy machine, compiling at start could outlast
    # the 5-second lesson.
    run_python(SERVICE_IMPORTS)
    start = datetime.now(UTC).replace(microsecond=0)
    lesson_id = collector.add_lesson("3B", start, start + timedelta(seconds=5))
    processes.start("telegram-desktop")
    agent = agent_process(enrolled, *FAST)
    assert "Traceback" not in reports_telegram_and_stops(collector, lesson_id, agent)
    # Everything compiled, ahead or by the agent for what only a run imports, is -OO bytecode.
    compiled = [p.name for p in (tmp_path / "pyc").rglob("*.pyc")]
    assert all(".opt-2." in name for name in compiled)
    optimised = {name.split(".")[0] for name in compiled}
    assert {"runner", "sampler", "processes", "uploader", "background"} <= optimised


def test_the_metadata_stand_in_reads_versions_as_importlib_metadata_does() -> None:
    from importlib.metadata import version

    from agent.standins import PackageNotFoundError, _version

    for name in ("APScheduler", "apscheduler", "psutil", "watchdog"):
        assert _version(name) == version(name)
    with pytest.raises(PackageNotFoundError):
        _version("no-such-distribution-here")


def test_in_the_service_apscheduler_knows_its_version_and_refuses_plugin_names_loudly() -> None:
    """The stand-in leaves APScheduler's plugin tables empty: the agent hands it objects, and a
    name ("date") fails with APScheduler's LookupError instead of doing something else."""
    code = SERVICE_IMPORTS + (
        "import apscheduler, importlib.metadata as real\n"
        "from apscheduler.schedulers.background import BackgroundScheduler\n"
        "scheduler = BackgroundScheduler()\n"
        "try:\n"
        "    scheduler.add_job(print, 'date')\n"
        "except LookupError as exc:\n"
        "    refused = str(exc)\n"
        "print(apscheduler.__version__ == real.version('APScheduler'), refused)\n"
    )
    assert run_python(code) == 'True No trigger by the name "date" was found'
