"""The extension on its own (a Chromebook's mode) in real Chromium against the real collector.

Configured as IT would: a managed policy file under /etc/chromium/policies/managed/ with the
``3rdparty`` settings for the extension's fixed id. The extension enrols, fetches its config,
follows a lesson that the collector's timetable puts a few seconds from now (the extension runs
on the real clock), and sends its one summary after the lesson. The pupil opens discord.com
before the lesson and instagram.com and tiktok.com during it, all served by a local server
through --host-resolver-rules; the report shows instagram and tiktok, not discord, and
nothing the collector holds has a path, a query or a page title.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Worker, sync_playwright

from tests.agent.real_collector import RealCollector, stored_summaries
from tests.support.browser import ARGS, CHROMIUM
from tests.support.waiting import wait_for

EXTENSION = Path(__file__).resolve().parents[2] / "browser"
EXTENSION_ID = "miidlkkbabhbefopaneddnaplacpdfhl"
POLICY_DIR = Path("/etc/chromium/policies/managed")
SECRET_PATH = "/p/geheim-pad-4711"
SECRET_QUERY = "zoekterm-0815"
SECRET_TITLE = "Geheime titel 2342"
LEAD = timedelta(seconds=12)  # from now to the lesson's start: launch, enrol, config, discord
LESSON = timedelta(seconds=18)


class Site(BaseHTTPRequestHandler):
    """Every mapped host: a page whose path, query and title must never leave the browser."""

    def do_GET(self) -> None:
        body = f"<!doctype html><title>{SECRET_TITLE}</title><p>{self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[int]:
    """HTTPS, as the real hosts are on Chromium's HSTS preload list (http:// is upgraded)."""
    cert, key = tmp_path / "site.pem", tmp_path / "site.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=lessonwatch-test", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RealCollector]:
    real = RealCollector(tmp_path / "collector")
    # No grace period and no upload spread: a lesson of seconds, and the summary sent at once.
    override = tmp_path / "school.toml"
    override.write_text(
        "version = 1\n[settings]\ngrace_seconds = 0\nupload_delay_max_seconds = 0\n"
    )
    real.cli("schools", "set", "--policy-override", str(override))
    yield real
    real.close()


@pytest.fixture
def managed_policy() -> Iterator[Callable[[dict[str, str]], None]]:
    """Write the 3rdparty extension policy as IT would on Linux; removed afterwards."""
    path = POLICY_DIR / f"lessonwatch-test-{os.getpid()}.json"

    def write(settings: dict[str, str]) -> None:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"3rdparty": {"extensions": {EXTENSION_ID: settings}}}))

    try:
        yield write
    finally:
        path.unlink(missing_ok=True)


def storage(worker: Worker) -> dict[str, Any]:
    result: dict[str, Any] = worker.evaluate("chrome.storage.local.get(null)")
    return result


def browse(context: BrowserContext, url: str) -> None:
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url)
    page.bring_to_front()


def test_extension_alone_reports_the_apps_of_the_lesson_only_and_never_a_path_or_title(
    tmp_path: Path,
    collector: RealCollector,
    site: int,
    managed_policy: Callable[[dict[str, str]], None],
) -> None:
    if not CHROMIUM.exists() or not shutil.which("node"):
        pytest.fail(f"{CHROMIUM} and node are needed (./dev test installs them)")
    now = datetime.now(UTC).replace(microsecond=0)
    lesson = collector.add_lesson("3B", now + LEAD, now + LEAD + LESSON)
    start, end = now + LEAD, now + LEAD + LESSON
    managed_policy({"server": collector.url, "code": collector.enrolment_code("3B")})
    hosts = ["instagram.com", "www.tiktok.com", "discord.com", "school.example.nl"]
    rules = ", ".join(f"MAP {h} 127.0.0.1:{site}" for h in hosts)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            ignore_https_errors=True,
            args=[
                *ARGS,
                "--headless=new",
                "--ignore-certificate-errors",
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
                f"--host-resolver-rules={rules}",
            ],
        )
        try:
            worker = context.service_workers[0] if context.service_workers else None
            worker = worker or context.wait_for_event("serviceworker", timeout=15_000)
            assert EXTENSION_ID in worker.url
            wait_for(
                lambda: storage(worker).get("config") and storage(worker).get("enrolment"),
                timeout=30,
                interval=0.25,
                what="enrolment and the config",
            )
            assert datetime.now(UTC) < start, "the set-up took longer than the lead"
            browse(context, f"https://discord.com{SECRET_PATH}?q={SECRET_QUERY}")
            browse(context, "https://school.example.nl/")
            assert not storage(worker).get("running"), "something was recorded before the lesson"
            wait_for(lambda: storage(worker).get("running"), 30, 0.25, "the lesson")
            browse(context, f"https://instagram.com{SECRET_PATH}?q={SECRET_QUERY}")
            time.sleep(3)  # the pupil stays on each page a few seconds of the real lesson
            browse(context, f"https://www.tiktok.com{SECRET_PATH}?q={SECRET_QUERY}")
            time.sleep(3)
            browse(context, "https://school.example.nl/")
            wait_for(lambda: datetime.now(UTC) >= end, 40, 0.25, "the lesson's end")
            wait_for(lambda: stored_summaries(collector, lesson), 40, 0.25, "the summary")
            sent = storage(worker)
            # The pupil's popup: the mode, the lesson times and the summary sent, verbatim.
            popup = context.new_page()
            popup.goto(f"chrome-extension://{EXTENSION_ID}/popup/popup.html")
            last = popup.locator("#last")
            last.wait_for()
            shown = json.loads(last.inner_text())
            mode = popup.locator("#mode").inner_text()
            never = popup.locator("[data-msg=never]").inner_text()
        finally:
            context.close()
    assert len(stored_summaries(collector, lesson)) == 1
    report = collector.report(lesson)
    text = json.dumps(report)
    assert "instagram" in text and "tiktok" in text, text
    assert "discord" not in text, text
    families = {f["family"] for f in sent["lastSent"]["findings"]}
    assert families == {"instagram", "tiktok"}, sent["lastSent"]
    assert sent["lastSent"]["agent_version"].endswith("+browser")
    assert shown == sent["lastSent"]
    assert "zelfstandig" in mode or "on its own" in mode, mode
    assert "paginatitels" in never or "page titles" in never, never
    held = collector.database_bytes() + collector.traffic()
    for secret in (SECRET_PATH, SECRET_QUERY, SECRET_TITLE, "instagram.com", "tiktok.com"):
        assert secret.encode() not in held, secret
