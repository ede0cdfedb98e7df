"""What the running agent asks of the collector, without the HTTP library that answers it.

``Link`` is the running agent's view of the collector: a config poll and an upload. ``Answer``
and ``Unreachable`` are what a link gives back. They live here, apart from ``agent.client``
(requests), so that the long-running ``lessonwatch-agent run`` process can hold a link without
importing requests, urllib3, http.client and ssl: it talks to the collector through
``agent.remote``, a short-lived process per contact (docs/agent.md, "Each contact in a
process of its own").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Unreachable(Exception):
    """No answer: connection refused or reset, DNS, timeout, TLS failure. Retry later."""


class Headers(Mapping[str, str]):
    """Response headers looked up case-insensitively: uvicorn sends "etag" and "date" in lower
    case, and an answer from ``agent.remote`` arrives as a plain JSON object."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = {name.lower(): (name, value) for name, value in items.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    # Case-insensitive (requests' own mapping, or ``Headers``).
    headers: Mapping[str, str]
    sent: datetime
    received: datetime


class Link(Protocol):
    """What the running agent asks of the collector (``Collector`` in this process,
    ``remote.RemoteCollector`` through a short-lived process; a fake in tests)."""

    def config(self, etag: str | None) -> Answer: ...

    def reports(self, bodies: list[str]) -> Answer: ...

    def close(self) -> None: ...
