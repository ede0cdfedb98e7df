"""Collecting problems up to a limit, then either refusing the import or keeping the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.timetable.errors import ImportRefused, Problem


class Problems:
    def __init__(self, source: str, limit: int):
        self.source = source
        self.limit = limit
        self.listed: list[Problem] = []
        self.more = 0

    def add(
        self,
        message: str,
        *,
        line: int | None = None,
        uid: str | None = None,
        msgid: str = "",
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """One problem; with ``msgid`` and ``params`` (``message`` filled in) it is translatable."""
        if len(self.listed) < self.limit:
            self.listed.append(Problem(self.source, message, line, uid, msgid, params or {}))
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.listed)

    def settle(self, partial: bool) -> tuple[Problem, ...]:
        """Refuse the import when there were problems, unless the admin asked for the rest."""
        if self.listed and not partial:
            raise ImportRefused(self.listed, source=self.source, more=self.more)
        return tuple(self.listed)
