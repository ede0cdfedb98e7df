"""Fixtures for the group-chat register: the web tests' demo school (SQLite and PostgreSQL) and
the collector tests' migrated database, reused from tests/web and tests/service."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent
# With --import-mode=importlib test folders are not on sys.path; the shared builders are.
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "web"))
sys.path.insert(0, str(HERE.parent / "service"))

_spec = importlib.util.spec_from_file_location("web_fixtures", HERE.parent / "web" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_web)

db_url = _web.db_url
password_hash = _web.password_hash
web_clock = _web.web_clock
demo = _web.demo
demo_sqlite = _web.demo_sqlite
chromium = _web.chromium
sessions = _web._service_fixtures.sessions
