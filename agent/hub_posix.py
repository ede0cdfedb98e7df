"""The helper channel on Linux and macOS: a Unix stream socket the service creates and listens on.

The socket lives in a directory only the service account can write (Linux: systemd's
``RuntimeDirectory``, ``/run/lessonwatch-agent``), so nobody else can put a socket there, and
has mode 0666 so a signed-in user's helper can connect. What a helper sends reaches only this
process, and no file holds it. Each connection's peer uid (``SO_PEERCRED``; macOS
``LOCAL_PEERCRED``) is checked against the console user before it may say anything.

One thread runs a ``selectors`` loop; it blocks without a timeout while nothing can expire (no
helper waiting to say hello, no lesson running), so outside lessons it does not wake at all.
A peer can only cost it a bounded read and a decision; the sampling loop never waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent import peers
from agent.hub import Hub

log = logging.getLogger(__name__)

READ_BYTES = 8192


class SocketHub:
    def __init__(self, hub: Hub, path: Path, console: Callable[[], frozenset[int]]):
        self.hub, self.path, self.console = hub, path, console
        self.selector = selectors.DefaultSelector()
        self.conns: dict[int, socket.socket] = {}
        self.listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        hub.wake = self._wake

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        parent = self.path.parent.stat()
        if parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or parent.st_uid != os.geteuid():
            # Someone else could swap the socket for theirs: refuse rather than listen there.
            raise OSError(f"{self.path.parent} must be owned by this account and not writable")
        self._wake_r, self._wake_w = socket.socketpair()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bound under a temporary name and renamed over any stale socket of a previous run, so
        # the path appears once, with its final mode: anyone may connect, the peer check
        # decides who is heard.
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        listener.bind(str(staging))
        os.chmod(staging, 0o666)
        listener.listen(16)
        os.replace(staging, self.path)
        listener.setblocking(False)
        self.listener = listener
        assert self._wake_r is not None
        self._wake_r.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, "listen")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._loop, name="helper-hub", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for key in list(self.conns):
            self._close(key)
        if self.listener is not None:
            self.listener.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.selector.close()
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"w")

    def _loop(self) -> None:
        while not self._closing.is_set():
            try:
                self._once()
            except Exception as exc:
                # The hub must never take the agent down; one bad turn is logged and skipped.
                log.error("helper channel: %s", exc.__class__.__name__)
                log.debug("helper channel failed", exc_info=True)
                time.sleep(0.5)

    def _once(self) -> None:
        deadline = self.hub.deadline()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        for key, _mask in self.selector.select(timeout):
            if key.data == "listen":
                self._accept()
            elif key.data == "wake" and self._wake_r is not None:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
            else:
                self._read(key.fd)
        for fd in self.hub.expired(time.monotonic()):
            self._close(fd)
        self._flush()

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        uid = peers.peer_uid(conn)
        allowed = peers.accepted(uid, self.console())
        refusal = self.hub.opened(conn.fileno(), uid, allowed, time.monotonic())
        if refusal is not None:
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                conn.send(refusal)
            conn.close()
            return
        conn.setblocking(False)
        self.conns[conn.fileno()] = conn
        self.selector.register(conn, selectors.EVENT_READ, "peer")

    def _read(self, fd: int) -> None:
        conn = self.conns.get(fd)
        if conn is None:
            return
        try:
            data = conn.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.hub.closed(fd)
            self._close(fd)
        elif not self.hub.received(fd, data, time.monotonic()):
            self._close(fd)

    def _flush(self) -> None:
        for fd in list(self.conns):
            lines = self.hub.outgoing(fd)
            if lines is None:
                self._close(fd)  # dropped by the hub (a newer helper, a protocol error)
                continue
            for line in lines:
                try:
                    # A few hundred bytes, twice a lesson: a peer whose buffer is full has not
                    # read for a long time and is closed rather than waited for.
                    complete = self.conns[fd].send(line) == len(line)
                except OSError:
                    complete = False
                if not complete:
                    self.hub.closed(fd)
                    self._close(fd)
                    break

    def _close(self, fd: int) -> None:
        conn = self.conns.pop(fd, None)
        if conn is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()
