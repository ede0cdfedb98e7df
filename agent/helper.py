"""``lessonwatch-agent helper``: the per-user helper, started at login in the user's session.

It connects to the service's channel, says hello, and then blocks on it: outside a lesson it
reads nothing, samples nothing and does not wake. When the service says ``monitor``, it
watches this user's capture folders (``CaptureProbe``) and reads the foreground app every
``sample_seconds``, sending each sample; on ``idle``, at the lesson's end or when the service
goes away, it stops its watchers. What it sends: the foreground app's name, executable base
name and package/bundle ids; the window title only when the policy asked for titles; new
capture files as their extension only. Nothing is written to disk.

Connection failures retry after 1 s doubling to 60 s; a refusal (not the console user) after
60 s. Those waits are the only wake-ups outside lessons, and only while not connected.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.channel import (
    MAX_FIELD,
    MAX_TITLE,
    Hello,
    Idle,
    Lines,
    Monitor,
    ProtocolError,
    Refused,
    Sample,
    State,
    decode,
    encode,
    wire_app,
)
from agent.probes import Probe, Unavailable
from agent.probes.window import Foreground
from policies import CaptureFileSeen, ProcessSeen

log = logging.getLogger(__name__)

Reader = Callable[[], Foreground | None]
RETRY_CAP = 60.0
REFUSED_WAIT = 60.0


class Link(Protocol):
    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float | None) -> bytes | None:
        """Bytes; ``b""`` when the service closed; None when ``timeout`` passed first."""
        ...

    def close(self) -> None: ...


class ChannelRefused(Exception):
    pass


class SocketLink:
    """POSIX: a Unix socket in a directory that the service's account owns (checked)."""

    def __init__(self, path: Path):
        folder = path.parent.stat()
        if folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OSError(f"{path.parent} is writable by others: not the service's channel")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
            from agent.peers import peer_uid

            server = peer_uid(self.sock)
            if server is not None and server != folder.st_uid:
                raise OSError("the listener is not the account that owns the channel")
        except OSError:
            self.sock.close()
            raise

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float | None) -> bytes | None:
        # settimeout(0) would make the socket non-blocking: a due tick polls instead.
        self.sock.settimeout(None if timeout is None else max(timeout, 0.001))
        try:
            return self.sock.recv(8192)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()


def connect(address: str) -> Link:
    if sys.platform == "win32":  # pragma: no cover - needs Windows
        from agent.link_windows import PipeLink

        return PipeLink(address)
    return SocketLink(Path(address))


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


def observe(reader: Reader, capture: Probe, lesson: Monitor, n: int) -> Sample:
    """One sample: the foreground app (title only if asked for) and new capture kinds."""
    app: ProcessSeen | None = None
    title: str | None = None
    app_state: State = "ok"
    try:
        seen = reader()
    except Exception as exc:  # probe failures degrade to "unavailable", logged by class
        log.debug("foreground unavailable: %s", exc.__class__.__name__)
        seen, app_state = None, "unavailable"
    if seen is not None and seen.app is not None:
        raw = wire_app(seen.app)
        app = dataclasses.replace(
            raw,
            name=_cut(raw.name, MAX_FIELD),
            exe=_cut(raw.exe, MAX_FIELD),
            bundle_id=_cut(raw.bundle_id, MAX_FIELD),
            flatpak_id=_cut(raw.flatpak_id, MAX_FIELD),
            snap_name=_cut(raw.snap_name, MAX_FIELD),
            store_package=_cut(raw.store_package, MAX_FIELD),
        )
    title_state: State = "off"
    if lesson.titles:
        title_state = app_state
        if seen is not None:
            title = _cut(seen.title, MAX_TITLE)
            title_state = "ok" if seen.titles_readable else "unavailable"
    capture_state: State = "ok"
    try:
        seen_files = capture.sample()
        kinds = sorted(
            {os.path.splitext(c.path)[1] for c in seen_files if isinstance(c, CaptureFileSeen)}
        )
    except Exception as exc:
        log.debug("capture folders unavailable: %s", exc.__class__.__name__)
        kinds, capture_state = [], "unavailable"
    return Sample(lesson.lesson, n, app, app_state, title, title_state, tuple(kinds), capture_state)


def sample_line(sample: Sample) -> bytes:
    """The sample as a line; a title that makes it too long is dropped, never the sample."""
    try:
        return encode(sample)
    except ProtocolError:
        return encode(dataclasses.replace(sample, title=None))


@dataclass
class Watching:
    lesson: Monitor
    capture: Probe
    next_at: float


class Helper:
    """One connection's life: hello, then block; monitor and idle as the service says."""

    def __init__(
        self,
        link: Link,
        reader: Reader,
        capture_probe: Callable[[Monitor], Probe],
        clock: Callable[[], float] = time.time,
    ):
        self.link, self.reader, self.capture_probe, self.clock = link, reader, capture_probe, clock
        self.watching: Watching | None = None
        self.n = 0

    def serve(self) -> None:
        """Until the service closes the channel (returns) or refuses us (``ChannelRefused``)."""
        lines = Lines()
        try:
            self.link.send(encode(Hello()))
        except OSError:
            # A refusal is sent and the channel closed at once, so our hello can meet a closed
            # socket: the refusal is still waiting to be read, and it is the real answer.
            for line in lines.feed(self.link.recv(1.0) or b""):
                self._on(decode(line))
            raise
        try:
            while True:
                watching = self.watching
                timeout = None if watching is None else max(0.0, watching.next_at - self.clock())
                data = self.link.recv(timeout)
                if data is None:
                    self._tick()
                    continue
                if not data:
                    log.info("the service closed the channel")
                    return
                for line in lines.feed(data):
                    self._on(decode(line))
        finally:
            self._stop()

    def _on(self, message: object) -> None:
        if isinstance(message, Monitor):
            self._stop()
            capture = self.capture_probe(message)
            capture.start()
            self.watching = Watching(message, capture, self.clock())
            log.info("lesson monitored: watching until it ends")
        elif isinstance(message, Idle):
            self._stop()
            log.info("no lesson: idle")
        elif isinstance(message, Refused):
            raise ChannelRefused(message.reason)
        else:
            raise ProtocolError("order")

    def _tick(self) -> None:
        watching = self.watching
        if watching is None:
            return
        now = self.clock()
        if now >= watching.lesson.until:
            self._stop()  # the service should have said idle; stop anyway
            return
        self.n += 1
        self.link.send(sample_line(observe(self.reader, watching.capture, watching.lesson, self.n)))
        watching.next_at = now + watching.lesson.sample_seconds

    def _stop(self) -> None:
        watching, self.watching = self.watching, None
        if watching is not None:
            try:
                watching.capture.stop()
            except Exception as exc:
                log.warning("capture watcher stop failed: %s", exc.__class__.__name__)


def capture_probe_for(home: Path, environ: Mapping[str, str]) -> Callable[[Monitor], Probe]:
    def make(lesson: Monitor) -> Probe:
        from agent.probes.capture import CaptureProbe
        from agent.probes.folders import capture_folders

        try:
            folders = capture_folders(home, environ)
        except Exception as exc:
            log.debug("capture folders unknown: %s", exc.__class__.__name__)
            folders = []
        return CaptureProbe(folders, lesson.extensions)

    return make


def run(
    address: str,
    environ: Mapping[str, str],
    home: Path,
    stop: threading.Event,
    reader: Reader | None = None,
) -> None:
    """Connect, serve, reconnect, until ``stop`` is set."""
    from agent.probes.window import foreground

    read = reader or (lambda: foreground(environ))
    wait = 1.0
    while not stop.is_set():
        try:
            link = connect(address)
        except (OSError, Unavailable) as exc:
            log.info("channel not reachable (%s); again in %.0f s", exc.__class__.__name__, wait)
            stop.wait(wait)
            wait = min(RETRY_CAP, wait * 2)
            continue
        try:
            Helper(link, read, capture_probe_for(home, environ)).serve()
            wait = 1.0
        except ChannelRefused as exc:
            log.warning("the service refused this helper (%s); again in %.0f s", exc, REFUSED_WAIT)
            stop.wait(REFUSED_WAIT)
            continue
        except ProtocolError as exc:
            log.warning("the service broke the protocol (%s); reconnecting", exc.kind)
        except OSError as exc:
            log.info("channel lost (%s); reconnecting", exc.__class__.__name__)
        finally:
            link.close()
        stop.wait(wait)  # a service that restarts, or keeps closing us, is not hammered
        wait = min(RETRY_CAP, wait * 2)
