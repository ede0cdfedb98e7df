"""What the collector benchmarks share: the machine line, a fresh database on either backend,
real collector processes on loopback ports, and counting what was stored.

Imported by bench/ingest/*.py and bench/report/*.py after they put the repository on sys.path.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from service import db
from service.actors import Actor
from service.devices import enrolment
from service.lessons import records as lessons
from service.models import DeviceLessonSummary
from service.schools import registry as schools

REPO = Path(__file__).resolve().parents[2]
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgres")
LESSON_LENGTH = timedelta(minutes=50)


def pg_base_url() -> str:
    return os.environ.get("LESSONWATCH_BENCH_PG", PG_DEFAULT)


def pg_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy URL, for psycopg connections made by hand."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time these processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def runqueue_seconds(pids: Sequence[int]) -> dict[str, float]:
    """Per thread of these processes, the time it has spent runnable but waiting for a core
    (Linux /proc/PID/task/TID/schedstat, second field): on a shared machine, what a process
    lacked besides its own CPU time. Per thread, because a thread that ends takes its count
    with it: compare two readings with ``waited_between``."""
    out = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                out[f"{pid}/{task.name}"] = int((task / "schedstat").read_text().split()[1]) / 1e9
    return out


def waited_between(before: Mapping[str, float], after: Mapping[str, float]) -> float:
    """Seconds waited for a core between two ``runqueue_seconds`` readings, by the threads alive
    at the second (what threads that ended meanwhile waited is not counted)."""
    return sum(seconds - before.get(thread, 0.0) for thread, seconds in after.items())


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_lines() -> list[str]:
    """nproc, memory, Python, PostgreSQL, date and load: printed at the top of every run."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        total_kb = int(handle.readline().split()[1])
    try:
        with psycopg.connect(pg_dsn(pg_base_url()), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            pg = str(row[0]) if row else "?"
    except psycopg.OperationalError:
        pg = "unreachable"
    return [
        f"date      {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine   nproc={os.cpu_count()} memory={total_kb / 1024 / 1024:.1f} GiB "
        f"{platform.machine()} {platform.system()} {platform.release()}",
        f"software  Python {platform.python_version()}, PostgreSQL {pg}, "
        f"SQLite {__import__('sqlite3').sqlite_version}",
        f"load avg  {load_average()} (1, 5, 15 min) before the run",
    ]


@contextlib.contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in a temporary folder, or a PostgreSQL schema
    of its own in the test database (dropped afterwards)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lwbench-") as folder:
            url = f"sqlite:///{Path(folder) / 'collector.sqlite3'}"
            migrate(url)
            yield url
        return
    schema = "lwbench_" + uuid.uuid4().hex[:12]
    base = pg_base_url()
    with psycopg.connect(pg_dsn(base), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            url = schema_url(base, schema)
            migrate(url)
            yield url
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def schema_url(base: str, schema: str) -> str:
    parsed = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


def named_url(url: str, name: str) -> str:
    """``url`` with PostgreSQL's application_name set, so its sessions can be found by name."""
    parsed = make_url(url).update_query_dict({"application_name": name})
    return parsed.render_as_string(hide_password=False)


def migrate(url: str) -> None:
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_command() -> list[str]:
    script = Path(sys.executable).with_name("lessonwatch-service")
    return [str(script)] if script.exists() else [sys.executable, "-m", "service"]


@contextlib.contextmanager
def collectors(
    url: str,
    count: int,
    env: Mapping[str, str],
    timeout: float = 60.0,
    errors: list[str] | None = None,
    pids: list[int] | None = None,
) -> Iterator[list[str]]:
    """``count`` real collector processes (``lessonwatch-service serve``), each on its own
    loopback port, sharing the database; stopped with SIGTERM as a supervisor would. What they
    logged besides access lines is added to ``errors`` when they have stopped; their process ids
    are added to ``pids`` once they serve."""
    errors = [] if errors is None else errors
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs = []
    try:
        for _ in range(count):
            port = free_port()
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [*service_command(), "serve", "--port", str(port), "--db", url],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    env={**os.environ, "LESSONWATCH_PURGE_INTERVAL_SECONDS": "0", **env},
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, base, log in zip(procs, urls, logs, strict=True):
            wait_healthy(base, proc, log, timeout)
        if pids is not None:
            pids.extend(proc.pid for proc in procs)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        # Errors the collectors logged (uvicorn's access lines left out), for the run's output.
        for log in logs:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").splitlines()
            errors.extend(line for line in lines if not line.startswith("INFO:"))
            log.close()


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)  # type: ignore[attr-defined]
            tail = log.read()[-2000:]  # type: ignore[attr-defined]
            raise RuntimeError(f"collector at {base} did not start: {tail!r}")
        time.sleep(0.05)


def stored_report_ids(url: str) -> list[str]:
    """Every stored report id, duplicates included (a double would show as one twice)."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(DeviceLessonSummary.report_id)))
    finally:
        engine.dispose()


def stored_count(url: str) -> int:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(DeviceLessonSummary)
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q from 0 to 100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs)

    lines = [line(r) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Seeded:
    lessons: dict[str, str]  # group name -> id of its lesson that ends about now
    codes: dict[str, str]  # group name -> an enrolment code with enough uses
    tokens: list[str]  # device tokens enrolled directly (not over HTTP)
    # (lesson id, its end) of the earlier lessons of the first group, one an hour before it
    earlier: list[tuple[str, datetime]] = field(default_factory=list)


def seed(
    url: str,
    *,
    groups: int,
    devices_per_group: int,
    enrol: bool,
    now: datetime,
    earlier_lessons: int = 0,
) -> Seeded:
    """A school with ``groups`` groups, each with a lesson that has just ended and an enrolment
    code; with ``enrol`` its devices are enrolled directly in the database. The first group gets
    ``earlier_lessons`` more, one an hour before the other, all within the retention period."""
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine).begin() as session:
            school = schools.school(session)
            names = [f"G{i:04d}" for i in range(groups)]
            lesson_ids: dict[str, str] = {}
            codes: dict[str, str] = {}
            tokens: list[str] = []
            for name in names:
                lesson = lessons.add_lesson(
                    session,
                    school=school,
                    group=name,
                    start=now - LESSON_LENGTH,
                    end=now,
                    now=now,
                )
                lesson_ids[name] = lesson.id
                codes[name] = enrolment.create_code(
                    session,
                    actor=Actor.operator(school),
                    group=name,
                    uses=devices_per_group + 10,
                    lifetime=timedelta(days=1),
                    now=now,
                )
                if enrol:
                    for _ in range(devices_per_group):
                        done = enrolment.enroll(
                            session,
                            code=codes[name],
                            platform="linux",
                            agent_version="0.1.0",
                            label=None,
                            fingerprint=None,
                            now=now,
                        )
                        tokens.append(done.token)
            earlier: list[tuple[str, datetime]] = []
            for hours in range(1, earlier_lessons + 1):
                end = now - timedelta(hours=hours)
                lesson = lessons.add_lesson(
                    session,
                    school=school,
                    group=names[0],
                    start=end - LESSON_LENGTH,
                    end=end,
                    now=now,
                )
                earlier.append((lesson.id, end))
        return Seeded(lesson_ids, codes, tokens, earlier)
    finally:
        engine.dispose()


def seed_devices_and_lessons(
    url: str, *, devices: int, lessons: int, now: datetime
) -> tuple[list[str], list[str]]:
    """One group of ``devices`` enrolled devices with ``lessons`` lessons, the last ending at
    ``now`` and each of the others an hour before the next: their device tokens, and a summary
    template (``summary_template``) per lesson."""
    seeded = seed(
        url, groups=1, devices_per_group=devices, enrol=True, now=now, earlier_lessons=lessons - 1
    )
    ends = [(next(iter(seeded.lessons.values())), now), *seeded.earlier]
    return seeded.tokens, [summary_template(lesson, end) for lesson, end in ends]


def summary_template(lesson_id: str, end: datetime) -> str:
    """One summary as JSON text with ``%s`` where the report id goes: building batches by
    string formatting keeps the load generator's own cost out of the measurement."""
    start = end - LESSON_LENGTH
    body = {
        "report_id": "REPORT_ID",
        "lesson_id": lesson_id,
        "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ended_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "agent_version": "0.1.0",
        "coverage": {
            "seconds_monitored": 2940,
            "samples": 196,
            "gaps": 1,
            "probes": {"processes": "ok", "capture_files": "ok", "camera": "unavailable"},
        },
        "findings": [
            {
                "rule": "a1-social-media",
                "article": "A.1",
                "category": "social_media",
                "family": "telegram",
                "seconds": 420,
                "episodes": 2,
                "first_minute": 12,
                "buckets": [0, 0, 120, 300],
            }
        ],
        "dropped": 0,
    }
    return json.dumps(body, separators=(",", ":")).replace("%", "%%").replace("REPORT_ID", "%s")
