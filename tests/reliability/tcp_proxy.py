"""A TCP proxy on loopback between the collector and PostgreSQL that can cut one connection at a
chosen point of the wire protocol, to make a lost database connection happen on purpose.

The trigger is a list of byte patterns the collector must send, in order, on one connection (the
frontend protocol carries SQL text in the clear on a loopback connection without TLS). On the
last pattern the proxy either drops that write and cuts (``before``: PostgreSQL never sees the
statement) or forwards it and cuts (``after``: PostgreSQL runs it, the answer is lost).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Trigger:
    patterns: Sequence[bytes]
    when: str  # "before" or "after" the last pattern reaches PostgreSQL


class CuttingProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        # accept() wakes up now and then to notice close(): closing alone does not wake it.
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.cuts = 0
        self._trigger: Trigger | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def arm(self, trigger: Trigger) -> None:
        with self._lock:
            self._trigger = trigger

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            # Set when this connection's trigger fires: nothing more travels back to the client,
            # so an answer cannot slip through between the last forwarded bytes and the cut.
            held = threading.Event()
            threading.Thread(target=self._pump_up, args=(client, server, held), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, held), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, held: threading.Event) -> None:
        try:
            while chunk := source.recv(65536):
                if held.is_set():
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _pump_up(self, client: socket.socket, server: socket.socket, held: threading.Event) -> None:
        """Collector to PostgreSQL, watching for the armed trigger on this connection."""
        seen = 0
        try:
            while chunk := client.recv(65536):
                with self._lock:
                    trigger = self._trigger
                    fire = False
                    if trigger is not None and trigger.patterns[seen] in chunk:
                        seen += 1
                        if seen == len(trigger.patterns):
                            self._trigger, fire = None, True
                if fire and trigger is not None:
                    held.set()  # before the upstream can answer the bytes sent below
                    if trigger.when == "after":
                        server.sendall(chunk)
                    self.cuts += 1
                    break
                server.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(client, server)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._open.discard(sock)

    def close(self) -> None:
        self._stopped.set()
        self.listener.close()
        with self._lock:
            still = list(self._open)
        self._close(*still)
        self._thread.join(timeout=5)
