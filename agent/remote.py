"""The collector through a short-lived process: the running agent never loads the HTTP stack.

``lessonwatch-agent run`` lives all day on a pupil's laptop, but talks to the collector only in
the school day's contact windows: once a minute during a lesson, every 15 minutes around them
(docs/agent.md). requests, urllib3, http.client with its email parser, idna, certifi and ssl
would otherwise stay mapped all day for those moments (docs/performance.md, "Agent", has what
they cost). So each contact (a config poll, an upload, the two steps of enrolment) runs
``python -m agent.remote`` with this interpreter and its flags: the child does the one call
with ``agent.client.Collector`` (requests, as before: TLS always verified, the same timeouts,
the same limits on the answer), writes the outcome as one JSON object and exits. A side effect
wanted for its own sake: the code that parses what the network sends runs in a process that
lives for one request and, on Linux, holds none of the service's capabilities
(``drop_capabilities``).

The device token and the request go to the child on its stdin, never in its arguments (which
other local users can read in the process list). The child's outcome is one of three, as
``Collector``'s: an answer, ``Unreachable`` or ``CollectorError``. A child that does not finish
within ``DEADLINE`` seconds is killed and counts as unreachable (retry later).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from typing import Any

from agent.errors import CollectorError, FatalError
from agent.link import Answer, Headers, Unreachable

# requests' own timeouts are 5 s to connect and 15 s per read; enrolment's steps and an upload
# are one request each. The rest is the child's start (about 0.1-0.3 s of CPU).
DEADLINE = 60.0
_MAX_OUTCOME_BYTES = 16 * 1024 * 1024  # the child reads at most 8 MiB of answer


class RemoteCollector:
    """``agent.client.Collector``'s operations, each in a fresh child process (a ``Link``)."""

    def __init__(self, server: str, token: str | None = None) -> None:
        self.server, self.token = server, token

    def close(self) -> None:
        """Nothing is kept open between contacts."""

    def config(self, etag: str | None) -> Answer:
        return _answer(self._call("config", {"etag": etag}))

    def reports(self, bodies: list[str]) -> Answer:
        return _answer(self._call("reports", {"bodies": bodies}))

    def fingerprint_key(self, code: str) -> str | None:
        value = self._call("fingerprint_key", {"code": code})["value"]
        return value if isinstance(value, str) else None

    def enroll(self, *, code: str, label: str | None, fingerprint: str | None) -> dict[str, Any]:
        value = self._call("enroll", {"code": code, "label": label, "fingerprint": fingerprint})
        if not isinstance(value["value"], dict):
            raise CollectorError("enrolment answer is not an object", status=201)
        return value["value"]

    def _call(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        request = json.dumps({"server": self.server, "token": self.token, "op": op, "args": kwargs})
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console for the child
        try:
            done = subprocess.run(
                [sys.executable, "-m", "agent.remote"],
                input=request.encode(),
                stdout=subprocess.PIPE,
                timeout=DEADLINE,
                check=False,
                creationflags=flags,
            )
        except subprocess.TimeoutExpired:
            raise Unreachable(f"no outcome within {DEADLINE:.0f} s") from None
        except OSError as exc:  # the interpreter could not be started (out of memory, fds)
            raise Unreachable(f"cannot start the HTTP process: {exc}") from None
        return _outcome(done.returncode, done.stdout)


def _outcome(returncode: int, raw: bytes) -> dict[str, Any]:
    """The child's one JSON object, or the error it stands for; a crashed child is a retry."""
    if len(raw) > _MAX_OUTCOME_BYTES:
        raise CollectorError("the HTTP process wrote more than an answer can hold")
    try:
        outcome = json.loads(raw) if raw else None
    except ValueError:
        outcome = None
    if not isinstance(outcome, dict) or outcome.get("kind") not in ("ok", "unreachable", "error"):
        raise Unreachable(f"the HTTP process ended with status {returncode} and no outcome")
    if outcome["kind"] == "unreachable":
        raise Unreachable(str(outcome.get("message", "")))
    if outcome["kind"] == "error":
        status, code = outcome.get("status"), outcome.get("code")
        raise CollectorError(
            str(outcome.get("message", "")),
            status=status if isinstance(status, int) else None,
            code=code if isinstance(code, str) else None,
        )
    return outcome


def _answer(outcome: dict[str, Any]) -> Answer:
    value = outcome["value"]
    headers = value["headers"]
    return Answer(
        status=int(value["status"]),
        body=value["body"],
        headers=Headers({str(k): str(v) for k, v in headers.items()}),
        sent=datetime.fromisoformat(value["sent"]),
        received=datetime.fromisoformat(value["received"]),
    )


def _encode(value: Any) -> Any:
    if isinstance(value, Answer):
        return {
            "status": value.status,
            "body": value.body,
            "headers": dict(value.headers.items()),
            "sent": value.sent.isoformat(),
            "received": value.received.isoformat(),
        }
    return value


def serve(request: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request with ``Collector`` in this process; the outcome as JSON values."""
    from agent import memory

    memory.skip_charset_detection()  # before requests is imported, as the agent always did
    from agent.client import Collector

    ops = {"config", "reports", "fingerprint_key", "enroll"}
    op, args = request.get("op"), request.get("args")
    if op not in ops or not isinstance(args, dict):
        return {"kind": "error", "message": f"unknown request {op!r}"}
    collector = Collector(str(request["server"]), request.get("token") or None)
    try:
        value = getattr(collector, op)(**args)
    except Unreachable as exc:
        return {"kind": "unreachable", "message": str(exc)}
    except CollectorError as exc:
        return {"kind": "error", "message": str(exc), "status": exc.status, "code": exc.code}
    finally:
        collector.close()
    return {"kind": "ok", "value": _encode(value)}


def drop_capabilities() -> bool:
    """On Linux, give up every capability this process holds; True if it now holds none.

    The service runs with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (to read other users'
    processes for the probes; packaging/linux/lessonwatch-agent.service), and a child started
    with ``subprocess`` keeps them as ambient capabilities. The child needs none of them to make
    an HTTP request, so it drops all of them (effective, permitted, inheritable; the ambient set
    goes with the permitted one) before it reads anything the network sends. With the unit's
    NoNewPrivileges it cannot gain them back. Elsewhere (macOS, Windows) there is nothing to
    drop this way: False.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3 (two words), this process
    nothing = (Data * 2)()
    try:
        return int(ctypes.CDLL(None, use_errno=True).capset(ctypes.byref(header), nothing)) == 0
    except (OSError, AttributeError):  # no capset in this libc
        return False


def main() -> int:
    drop_capabilities()  # best effort: a contact is not refused for it, and tests show it works
    try:
        request = json.loads(sys.stdin.buffer.read(_MAX_OUTCOME_BYTES))
    except ValueError:
        request = None
    if not isinstance(request, dict):
        outcome: dict[str, Any] = {"kind": "error", "message": "the request is not a JSON object"}
    else:
        try:
            outcome = serve(request)
        except FatalError as exc:  # check_server_url refusing the address
            outcome = {"kind": "error", "message": str(exc)}
    sys.stdout.write(json.dumps(outcome))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
