"""Errors raised by the policies package.

PolicyError            a policy or override document is wrong; nothing may start on it
"""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy document is malformed or inconsistent.

    Carries the file (or other source name), the 1-based line when it is known, and the problem,
    so an admin can go straight to the spot: ``school.toml:12: unknown category 'games'``.
    """

    def __init__(self, problem: str, *, source: str = "<policy>", line: int | None = None):
        self.problem = problem
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {problem}")
