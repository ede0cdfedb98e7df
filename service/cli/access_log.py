"""The access log of ``lessonwatch-service serve``: without the client's address unless IT asks.

uvicorn writes each request as ``ADDRESS:PORT - "GET /path HTTP/1.1" 200``. A device polls from
wherever its laptop is, so the address tells where a pupil's laptop was and when it was on (at
home in the evening, issue 15). By default the address is taken out of the log record itself,
not only out of the line's format, so no handler attached to ``uvicorn.access`` can write it;
``access_log_addresses = true`` (``LESSONWATCH_ACCESS_LOG_ADDRESSES``) keeps uvicorn's own line.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

# What stands in the place of the client's address in a record.
HIDDEN = "-"


class HideClientAddress(logging.Filter):
    """Replaces the client address in uvicorn's access records (their first argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = (HIDDEN, *record.args[1:])
        return True


def log_config(addresses: bool) -> dict[str, Any]:
    """uvicorn's logging configuration, with or without client addresses in the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if addresses:
        return config
    config["formatters"]["access"]["fmt"] = '%(levelprefix)s "%(request_line)s" %(status_code)s'
    config["filters"] = {"hide_client_address": {"()": HideClientAddress}}
    config["loggers"]["uvicorn.access"]["filters"] = ["hide_client_address"]
    return config
