"""Lesson report latency over a school year of data, on SQLite and PostgreSQL, next to the same
server's bare endpoint.

    .venv/bin/python bench/report/report.py [--scale 1] [--backends sqlite,postgres]
        [--requests 300] [--attention 30] [--drop]

The data (bench/report/dataset.py; about 2.29 million summaries from 2,010 devices at scale 1)
is generated once with bulk inserts and reused while its marker table says it is complete:
SQLite in the user cache folder, PostgreSQL in the database ``lessonwatch_bench`` (a schema per
scale). ``--drop`` removes it first. A real ``lessonwatch-service serve`` process answers
``GET /api/v1/lessons/{id}/report`` for lessons drawn at random from the whole year, one request
at a time, as an admin: the JSON report with an API token, and the HTML report page
(``GET /lessons/{id}``) with a web session made directly in the database; each view is audited
as in production. It prints p50/p95/p99 next to ``GET /healthz`` in the same run.

Kept data is migrated to the newest schema first. The HTML page's group trend reads per-lesson
totals (``service.lesson_totals``), so the page is timed twice: with the totals table emptied
first (the first views after the upgrade: each lesson's totals are counted when first seen),
then, after every lesson's totals were counted (timed, in this process, as first views would),
for another draw of lessons. Last, the attention list (``GET /attention``, issue 17): over its
default six weeks ending today, which hold lessons of the last ten school days written for the
run and removed after it (its first view, counting their totals, then ``--attention`` views),
and over six and twelve weeks of the school year (12,060 and 24,120 lessons at scale 1), whose
totals were all kept by then, ``--attention`` views each.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import platformdirs
import psycopg
import requests
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.ingest import harness
from bench.report import dataset
from service import db
from service.accounts import users
from service.actors import Actor
from service.models import School, User
from service.web import websessions
from service.web.routes.base import SESSION_COOKIE

PG_DATABASE = "lessonwatch_bench"
TIMEOUT = 30


def database_url(backend: str, scale: float, drop: bool) -> str:
    tag = f"{scale:g}".replace(".", "_")
    if backend == "sqlite":
        folder = Path(platformdirs.user_cache_dir("lessonwatch-bench"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"report-scale-{tag}.sqlite3"
        if drop:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    base = harness.pg_base_url()
    with psycopg.connect(harness.pg_dsn(base), autocommit=True, connect_timeout=5) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,))
        if found.fetchone() is None:
            admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    own = harness.make_url(base).set(database=PG_DATABASE).render_as_string(hide_password=False)
    schema = f"report_scale_{tag}"
    with psycopg.connect(harness.pg_dsn(own), autocommit=True, connect_timeout=5) as conn:
        if drop:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return harness.schema_url(own, schema)


def prepare(url: str, scale: float) -> tuple[int, float, str, str, list[str]]:
    """The data (generated when missing): summaries, generation seconds (0 when reused), an
    admin API token, an admin web-session cookie, and the lesson ids."""
    engine = db.make_engine(url)
    try:
        began, generated = time.perf_counter(), 0.0
        count = dataset.existing(engine, scale)
        if count is None:
            count = dataset.generate(engine, scale, progress=_progress)
            generated = time.perf_counter() - began
        # Data kept from before a newer migration gets it now, as the collector would at start.
        db.migrate(engine)
        with db.session_factory(engine).begin() as session:
            admin = session.scalars(select(User).where(User.username == dataset.ADMIN)).one()
            now = datetime.now(UTC)
            operator = Actor.operator(session.get_one(School, admin.school_id))
            token = users.create_token(session, actor=operator, user=admin, now=now)
            # Signed in as the web pages would sign in the admin, without the password form.
            cookie, _ = websessions.start(session, user=admin, now=now, minutes=120)
        lesson_ids = [
            lid for g in range(dataset.groups_for(scale)) for lid, _, _ in dataset.lesson_slots(g)
        ]
        return count, generated, token, cookie, lesson_ids
    finally:
        engine.dispose()


def _progress(message: str) -> None:
    print(message, flush=True)


def timed_gets(
    base: str, paths: list[str], headers: dict[str, str], failed: list[str] | None = None
) -> list[float]:
    """Latencies of the answers that were 200; the others are listed in ``failed``."""
    http = requests.Session()
    latencies = []
    for path in paths:
        began = time.perf_counter()
        answer = http.get(base + path, headers=headers, timeout=TIMEOUT)
        took = time.perf_counter() - began
        if answer.status_code == 200:
            latencies.append(took)
        elif failed is not None:
            failed.append(f"{path}: {answer.status_code} {answer.text[:200]}")
        else:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
    return latencies


REQUESTS = (
    "GET /healthz",
    "report JSON",
    "report HTML, totals empty",
    "report HTML",
    "attention, first view",
    "attention",
    "attention, 6 weeks of the year",
    "attention, 12 weeks of the year",
)

# The newest week of the year's windows: the data's 30th week (March 2026 at scale 1), so both
# windows lie wholly inside the 38 weeks generated.
YEAR_WEEK = dataset.FIRST_DAY + timedelta(weeks=29)


def one_backend(backend: str, args: argparse.Namespace) -> list[list[object]]:
    url = database_url(backend, args.scale, args.drop)
    count, generated, token, cookie, lesson_ids = prepare(url, args.scale)
    rng = random.Random(2026)
    chosen = [rng.choice(lesson_ids) for _ in range(args.requests)]
    again = [rng.choice(lesson_ids) for _ in range(args.requests)]
    auth = {"Authorization": f"Bearer {token}"}
    logged: list[str] = []
    failed: dict[str, list[str]] = {name: [] for name in REQUESTS}
    engine = db.make_engine(url)
    timed: dict[str, list[float]] = {}
    try:
        with harness.collectors(url, 1, {}, errors=logged) as urls:
            base = urls[0]
            sample = requests.get(
                f"{base}/api/v1/lessons/{chosen[0]}/report", headers=auth, timeout=30
            )
            body = sample.json()
            if body["devices_reporting"] != dataset.GROUP_SIZE:
                raise RuntimeError(f"unexpected report: {body}")
            timed_gets(base, ["/healthz"] * 20, {})  # warm-up
            timed_gets(base, [f"/api/v1/lessons/{lid}/report" for lid in chosen[:20]], auth)
            web = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            page = requests.get(f"{base}/lessons/{chosen[0]}", headers=web, timeout=TIMEOUT)
            if page.status_code != 200 or "<html" not in page.text.lower():
                raise RuntimeError(f"report page: {page.status_code} {page.text[:300]}")
            timed_gets(base, [f"/lessons/{lid}" for lid in chosen[:20]], web)
            timed["GET /healthz"] = timed_gets(
                base, ["/healthz"] * args.requests, {}, failed["GET /healthz"]
            )
            paths = [f"/api/v1/lessons/{lid}/report" for lid in chosen]
            timed["report JSON"] = timed_gets(base, paths, auth, failed["report JSON"])
            # The first views after the upgrade: no lesson has its totals kept yet.
            dataset.clear_totals(engine)
            name = "report HTML, totals empty"
            timed[name] = timed_gets(base, [f"/lessons/{lid}" for lid in chosen], web, failed[name])
            # Then every lesson's totals kept, as they are once each lesson has been seen once.
            filled, fill_seconds = dataset.fill_totals(engine, args.scale)
            paths = [f"/lessons/{lid}" for lid in again]
            timed["report HTML"] = timed_gets(base, paths, web, failed["report HTML"])
            # The attention list: its default weeks end today, holding the two school weeks
            # written for this run; then weeks of the year, every lesson's totals kept.
            recent, recent_summaries = dataset.add_recent(engine, args.scale, datetime.now(UTC))
            try:
                name = "attention, first view"
                timed[name] = timed_gets(base, ["/attention"], web, failed[name])
                paths = ["/attention"] * args.attention
                timed["attention"] = timed_gets(base, paths, web, failed["attention"])
            finally:
                dataset.remove_recent(engine)
            week = f"{YEAR_WEEK.isocalendar()[0]}-W{YEAR_WEEK.isocalendar()[1]:02d}"
            for weeks, sort in ((6, "share"), (12, "change")):
                name = f"attention, {weeks} weeks of the year"
                paths = [f"/attention?week={week}&weeks={weeks}&sort={sort}"] * args.attention
                timed[name] = timed_gets(base, paths, web, failed[name])
    finally:
        engine.dispose()
    print(
        f"totals    {backend}: {filled:,} lessons' totals kept in {fill_seconds:.0f} s "
        f"({fill_seconds / filled * 1000:.2f} ms a lesson); attention list's default weeks over "
        f"{recent:,} lessons ({recent_summaries:,} summaries) of the last {dataset.RECENT_DAYS} "
        f"school days; the year's weeks end with {week}",
        flush=True,
    )
    rows: list[list[object]] = []
    for name, values in timed.items():
        rows.append(
            [
                backend,
                f"{count:,}",
                f"{generated:.0f}" if generated else "reused",
                name,
                len(values),
                len(failed[name]),
                *(f"{harness.percentile(values, q) * 1000:.1f}" for q in (50, 95, 99)),
                "-" if name == "GET /healthz" else _met(values),
            ]
        )
    for name, problems in failed.items():
        for problem in problems:
            print(f"FAILED    {backend} {name} {problem}")
    for line in logged[-40:]:
        print(f"LOG       {backend} {line}")
    return rows


def _met(values: list[float]) -> str:
    return "yes" if values and harness.percentile(values, 95) <= 0.1 else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 is 2,010 devices")
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--requests", type=int, default=300, help="timed reports per backend")
    parser.add_argument("--attention", type=int, default=30, help="timed attention lists each")
    parser.add_argument("--drop", action="store_true", help="generate the data again")
    args = parser.parse_args(argv)
    for line in harness.machine_lines():
        print(line)
    groups = dataset.groups_for(args.scale)
    print(
        f"run       scale {args.scale:g}: {groups} groups of {dataset.GROUP_SIZE} devices, "
        f"{dataset.WEEKS} weeks of 30 lessons; {args.requests} reports of random lessons per "
        "backend, one at a time, as an admin (audited): JSON with an API token, the HTML page "
        f"with a web session (totals empty, then all kept); {args.attention} attention lists each"
    )
    header = [
        "backend",
        "summaries",
        "generated s",
        "request",
        "ok",
        "failed",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p95<=100ms",
    ]
    rows: list[list[object]] = []
    for backend in args.backends.split(","):
        got = one_backend(backend, args)
        print(harness.table(header, got), flush=True)
        rows += got
    print(harness.table(header, rows))
    print(f"load avg  {harness.load_average()} (1, 5, 15 min) after the run")
    missed = [r for r in rows if r[-1] == "NO" or r[5]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
