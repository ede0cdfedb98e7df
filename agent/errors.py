"""Errors of the agent.

FatalError          the agent cannot run as it is (no identity, a cloned identity, an unsafe
                    server URL, an unusable state directory); ``run`` exits non-zero so the
                    supervisor restarts it, and IT sees the message in the service log
├── NotEnrolled     no identity in the state directory
└── ClonedIdentity  the identity was made on another machine
CollectorError      the collector answered something the agent cannot use (bad JSON, a status
                    outside the contract); carries the status and the error code when known
"""

from __future__ import annotations


class FatalError(Exception):
    """The agent must stop; the message says what IT should do."""


class NotEnrolled(FatalError):
    pass


class ClonedIdentity(FatalError):
    pass


class CollectorError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        self.status = status
        self.code = code
        super().__init__(message)
