"""Databases for the tests: every test gets its own, on SQLite and on the real PostgreSQL, and
none of them pays for the migrations or the demo school again.

Each worker (pytest-xdist runs several) migrates one template per backend at the start and
seeds one more with the demo school; a test gets a copy: a file copy on SQLite, ``CREATE
DATABASE ... TEMPLATE`` on PostgreSQL. The PostgreSQL copies are dropped by a background
thread so a test does not wait for it, and what is left at the end by a detached process so the
run does not wait either (each DROP DATABASE waits for a checkpoint). A name carries its
worker's process id: databases of runs whose process is gone are swept on the next run.
When PostgreSQL is unreachable its tests fail under CI=true and skip, saying why, otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service import db
from service.demo import data as demo_data
from service.demo.data import DemoSchool
from service.models import User
from tests.support.clock import DEMO_NOW, LESSON_START, FakeClock

PG_ENV = "LESSONWATCH_TEST_PG"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pg_url(database: str | None = None) -> str:
    """The test server's SQLAlchemy URL, for ``database`` (or the one LESSONWATCH_TEST_PG names)."""
    url = make_url(os.environ[PG_ENV])
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def pg_dsn(database: str | None = None) -> str:
    url = make_url(pg_url(database)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def pg_unreachable(reason: str) -> None:
    message = f"PostgreSQL at {os.environ.get(PG_ENV)} is unreachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the test server's own database, for CREATE/DROP."""
    try:
        return psycopg.connect(pg_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        text = str(exc).strip()
        pg_unreachable(text.splitlines()[0] if text else "no answer")
        raise


def _fingerprint() -> str:
    """Names the templates after what is in them: the migrations and the demo data's source."""
    digest = hashlib.sha256()
    migrations = resources.files("service") / "migrations"
    for path in sorted(Path(str(migrations)).rglob("*.py")):
        digest.update(path.read_bytes())
    digest.update(Path(demo_data.__file__).read_bytes())
    return digest.hexdigest()[:10]


# Argon2 at its cheapest settings for the test accounts. Verifying reads the settings from the
# stored hash, so sign-in runs the real check; at the production settings each sign-in costs a
# quarter of a CPU second, which across the page tests was minutes of every run.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _migrate_and_maybe_seed(url: str, *, seed: bool) -> DemoSchool | None:
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
        if not seed:
            return None
        with db.session_factory(engine).begin() as session:
            school = demo_data.seed(session, now=DEMO_NOW)
            for name, (_role, password) in demo_data.PASSWORDS.items():
                session.execute(
                    update(User)
                    .where(User.username == name)
                    .values(password_hash=CHEAP_HASHER.hash(password))
                )
            return school
    finally:
        engine.dispose()


@dataclass
class Templates:
    """The run's templates, built once for all workers on first use, and this worker's copies
    of them to drop.

    A template is built by the first worker that needs it, under a file lock in the folder all
    of the run's workers share; the others wait for it and copy it (migrating and seeding the
    demo school per worker cost every run about 20 s of CPU). The PostgreSQL templates carry
    the run's id (the xdist controller's pid): they are left for the next run's sweep of
    databases whose run is gone, as any worker may still be copying one when another ends.
    """

    folder: Path  # shared by the run's workers
    tag: str
    demo_school: dict[str, DemoSchool] = field(default_factory=dict)
    _drops: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _dropper: threading.Thread | None = None

    @contextlib.contextmanager
    def _building(self, name: str) -> Iterator[Path]:
        """Held while template ``name`` is looked for or built; yields its marker file."""
        with (self.folder / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.folder / f"{name}.ready"
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _template(self, backend: str, kind: str, build: Callable[[], DemoSchool | None]) -> None:
        """Build the template once per run; note the demo school it holds."""
        with self._building(f"{backend}-{kind}") as ready:
            if not ready.exists():
                school = build()
                ready.write_text(json.dumps(dataclasses.asdict(school) if school else None))
            held = json.loads(ready.read_text())
        if held is not None:
            self.demo_school[backend] = DemoSchool(**held)

    def sqlite_copy(self, kind: str, target: Path) -> str:
        """``kind`` is "empty", "migrated" or "demo"; returns the copy's URL."""
        if kind != "empty":
            path = self.folder / f"{kind}.sqlite3"
            self._template(
                "sqlite",
                kind,
                lambda: _migrate_and_maybe_seed(f"sqlite:///{path}", seed=kind == "demo"),
            )
            shutil.copyfile(path, target)
        return f"sqlite:///{target}"

    def pg_copy(self, kind: str) -> str:
        name = f"lwt_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        with pg_admin() as admin:
            if kind == "empty":
                admin.execute(f'CREATE DATABASE "{name}"')
            else:
                template = f"lwtpl_{self.tag}_{kind}"

                def build() -> DemoSchool | None:
                    admin.execute(f'DROP DATABASE IF EXISTS "{template}"')
                    admin.execute(f'CREATE DATABASE "{template}"')
                    return _migrate_and_maybe_seed(pg_url(template), seed=kind == "demo")

                self._template("postgres", kind, build)
                # WAL_LOG: no checkpoint per copy (several workers copying at once would queue).
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG')
        return pg_url(name)

    def drop_later(self, url: str) -> None:
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_all, daemon=True)
            self._dropper.start()
        self._drops.put(make_url(url).database or "")

    def _drop_all(self) -> None:
        with psycopg.connect(pg_dsn(), autocommit=True) as admin:
            for name in stale_databases(admin):
                self._drops.put(name)
            while (name := self._drops.get()) is not None:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Hand what is still to drop to a process of its own, and return at once."""
        left: list[str] = []
        while True:
            try:
                name = self._drops.get_nowait()
            except queue.Empty:
                break
            if name is not None:
                left.append(name)
        self._drops.put(None)  # the thread stops after the drop it is doing, if any
        if left:
            # setsid --fork: the dropper outlives this worker, and nothing waits for it.
            subprocess.run(
                ["setsid", "--fork", sys.executable, "-c", _DROP_SCRIPT, pg_dsn(), *left],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )


_DROP_SCRIPT = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as admin:
    for name in sys.argv[2:]:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
"""
_OURS = re.compile(r"^(?:lwt_(\d+)_[0-9a-f]+|lwtpl_[0-9a-f]+_(\d+)_[a-z]+)$")


def stale_databases(admin: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Test databases whose worker process is gone (a run that was killed, or its last drops)."""
    stale = []
    for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'lwt%'"):
        match = _OURS.match(str(name))
        if match and not os.path.exists(f"/proc/{match.group(1) or match.group(2)}"):
            stale.append(str(name))
    return stale


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    # Under xdist each worker's base folder sits in the run's own, which all its workers share;
    # the run is named by the controller's pid (the workers' parent), which keeps two runs on
    # one machine (two checkouts, or CI beside a session) apart.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if worker else base) / "templates"
    folder.mkdir(exist_ok=True)
    run = os.getppid() if worker else os.getpid()
    made = Templates(folder, f"{_fingerprint()}_{run}")
    yield made
    made.close()


def _database(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path, kind: str
) -> Iterator[str]:
    if request.param == "sqlite":
        yield templates.sqlite_copy(kind, tmp_path / "collector.sqlite3")
        return
    url = templates.pg_copy(kind)
    try:
        yield url
    finally:
        templates.drop_later(url)


@pytest.fixture(params=BACKENDS)
def empty_db_url(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path
) -> Iterator[str]:
    """A new, empty database: for the tests of the migrations themselves."""
    yield from _database(request, templates, tmp_path, "empty")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, migrated to the newest schema, on SQLite and PostgreSQL."""
    yield from _database(request, templates, tmp_path, "migrated")


@dataclass(frozen=True)
class DemoDatabase:
    url: str
    school: DemoSchool


@pytest.fixture(params=BACKENDS)
def demo_db(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path
) -> Iterator[DemoDatabase]:
    """A migrated database holding the demo school as seeded at ``DEMO_NOW``."""
    for url in _database(request, templates, tmp_path, "demo"):
        yield DemoDatabase(url, templates.demo_school[request.param])


@pytest.fixture
def demo_db_sqlite(templates: Templates, tmp_path: Path) -> DemoDatabase:
    """The demo school on SQLite only, for the many input tests that do not touch storage."""
    url = templates.sqlite_copy("demo", tmp_path / "web.sqlite3")
    return DemoDatabase(url, templates.demo_school["sqlite"])


@pytest.fixture
def demo_sessions(demo_db: DemoDatabase) -> Iterator[sessionmaker[Session]]:
    """Sessions on the test's demo database, on SQLite and PostgreSQL."""
    engine = db.make_engine(demo_db.url)
    yield db.session_factory(engine)
    engine.dispose()


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the test's migrated database."""
    engine = db.make_engine(db_url)
    yield db.session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(LESSON_START)


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash for the whole run, at the cheap test settings."""
    return CHEAP_HASHER.hash("correct horse battery")
