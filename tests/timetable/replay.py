"""A local HTTP server on loopback that replays recorded responses and records the requests.

It stands in for a Zermelo portal, an iCalendar feed host or the Rijksoverheid open-data
server: each path answers with the response set for it (status, content type, body), which a
test can change between syncs, as the real timetable changes between hours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Replay:
    url: str
    responses: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location of a 302
    reason: str | None = None  # the status line's phrase, when not the standard one
    delay: float = 0.0  # seconds before each answer, to make syncs overlap
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, path: str, body: bytes, *, status: int = 200, kind: str = "text/plain"
    ) -> None:
        with self.lock:
            self.responses[path] = (status, kind, body)

    def redirect(self, path: str, location: str) -> None:
        with self.lock:
            self.redirects[path] = location

    def requests(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]


@contextmanager
def replay_server() -> Iterator[Replay]:
    replay = Replay(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with replay.lock:
                replay.seen.append(
                    Seen(
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
                status, kind, body = replay.responses.get(
                    parts.path, (404, "text/plain", b"no such")
                )
                location = replay.redirects.get(parts.path)
            if replay.delay:
                time.sleep(replay.delay)
            if location is not None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(status, replay.reason)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    replay.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield replay
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
