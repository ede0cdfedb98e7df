"""``lessonwatch-agent``: enroll, run, status, explain, scan, helper, native-host (docs/agent.md).

Exit codes: 0 done; 1 a fatal condition (the message says what IT should do); 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from agent import __version__
from agent.errors import CollectorError, FatalError
from agent.paths import StatePaths, default_state_dir

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.explain import Enrolment
    from agent.identity import Identity
    from policies.model import Policy

log = logging.getLogger("agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessonwatch-agent",
        description="The lessonwatch device agent: checks only during scheduled lessons.",
    )
    parser.add_argument("--version", action="version", version=f"lessonwatch-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="where identity, config and outbox live (default: $LESSONWATCH_STATE_DIR, "
            "else the platform's per-user state directory)",
        )
        return cmd

    enroll = command("enroll", "enrol this device with a code from IT")
    enroll.add_argument("--server", required=True, metavar="URL", help="the collector, https://")
    enroll.add_argument("--code", required=True, help="the enrolment code")
    enroll.add_argument("--label", default=None, metavar="ASSET_TAG", help="asset label")

    run = command("run", "run in the foreground (for systemd, launchd or a Windows service)")
    for flag, help_text in (
        ("--sample-seconds", "seconds between samples during a lesson"),
        ("--grace-seconds", "shorter than this in one go does not count"),
        ("--upload-delay-max", "upload at most this many seconds after the lesson ends"),
    ):
        run.add_argument(
            flag, type=int, default=None, metavar="N", help=f"{help_text} (overrides the policy)"
        )
    run.add_argument(
        "--enroll-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="enrol from this file (server, code, label) when this device is not enrolled yet, "
        "or when its state was cloned from another machine",
    )
    run.add_argument(
        "--helper-socket",
        default=None,
        metavar="PATH",
        help="listen here for the per-user helper (the installed services pass the platform's "
        "channel; without it no helper is heard)",
    )
    run.add_argument(
        "--helper-required",
        action="store_true",
        default=None,
        help="the window title and capture folders come from the helper only, and are "
        "'unavailable' without one (the default on Windows and macOS)",
    )
    run.add_argument(
        "--helper-user",
        action="append",
        type=int,
        default=None,
        metavar="UID",
        help="accept helpers of this uid instead of the console user's (for tests; repeatable)",
    )

    helper = sub.add_parser(
        "helper",
        help="the per-user helper: started at login, reports to the service during lessons",
        description="The per-user helper: started at login in the user's session; idle until "
        "the service says a lesson is monitored.",
    )
    helper.add_argument(
        "--socket",
        default=None,
        metavar="PATH",
        help="the service's channel (default: the platform's, see docs/agent.md)",
    )
    host = sub.add_parser(
        "native-host",
        help="the browser extension's native messaging host (started by the browser itself)",
        description="Started by Chrome, Chromium or Edge for the lessonwatch extension: relays "
        "its tab matches to the service during lessons (docs/agent.md, 'Paired mode').",
    )
    host.add_argument("origin", nargs="?", default="", help="the caller's origin (the browser's)")
    host.add_argument("--parent-window", default=None, help=argparse.SUPPRESS)  # Chrome, Windows
    host.add_argument(
        "--socket",
        default=None,
        metavar="PATH",
        help="the service's channel (default: the platform's, see docs/agent.md)",
    )
    for cmd in (run, helper):
        cmd.add_argument(
            "--log-file",
            type=Path,
            default=None,
            metavar="FILE",
            help=f"log here, rotated at {LOG_BYTES // 2**20} MiB keeping {LOG_KEEP} old files "
            "(for launchd, which has no log rotation; default: standard error, which systemd's "
            "journal and WinSW rotate)",
        )

    status = command("status", "say whether monitoring is active now, and what is queued")
    status.add_argument("--json", action="store_true", help="print JSON")

    explain = command("explain", "what is checked, when, what leaves the device, the last summary")
    explain.add_argument("--lang", choices=("nl", "en"), default="nl")

    scan = command("scan", "one sample now, evaluated as if a lesson were running; sends nothing")
    scan.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _paths(args: argparse.Namespace) -> StatePaths:
    return StatePaths(args.state_dir or default_state_dir(os.environ))


LOG_BYTES = 2**20
LOG_KEEP = 5


def configure_logging(command: str, log_file: Path | None) -> None:
    """INFO for the service and the helper (one line per lesson start, end and upload),
    WARNING for the commands a person runs; the scheduler's routine lines ("Running job",
    "executed successfully", every sample) stay below INFO."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        from logging.handlers import RotatingFileHandler

        handler = RotatingFileHandler(
            log_file, maxBytes=LOG_BYTES, backupCount=LOG_KEEP, encoding="utf-8"
        )
    logging.basicConfig(
        level=logging.INFO if command in ("run", "helper") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[handler],  # a no-op when the root logger has handlers (a test's caplog)
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def lighten_service() -> None:
    """Load less of requests and APScheduler, before anything imports them: what only the
    service's own process does, for every laptop's memory (docs/performance.md, "Agent")."""
    from agent.memory import skip_charset_detection
    from agent.standins import import_scheduler

    skip_charset_detection()
    import_scheduler()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if argv is None and args.command == "run":
        # The service's own process; callers such as the tests pass argv and keep their imports.
        lighten_service()
    configure_logging(args.command, getattr(args, "log_file", None))
    try:
        handler = {
            "enroll": _enroll,
            "run": _run,
            "status": _status,
            "explain": _explain,
            "scan": _scan,
            "helper": _helper,
            "native-host": _native_host,
        }
        return handler[args.command](args)
    except FatalError as exc:
        print(f"lessonwatch-agent: {exc}", file=sys.stderr)
        return 1


def _enroll(args: argparse.Namespace) -> int:
    me = _enroll_as(_paths(args), args.server, args.code, args.label)
    print(f"enrolled: device {me.device_id}, group {me.group}, school {me.school}")
    return 0


def _enroll_as(
    paths: StatePaths, server_url: str, code: str, label: str | None, *, apart: bool = False
) -> Identity:
    """Enrol this machine. ``apart``: through ``agent.remote``'s short-lived process, as the
    running service does (``run --enroll-file``), so the service never loads requests."""
    from agent import identity
    from agent.link import Unreachable

    server = identity.check_server_url(server_url)
    collector: Any
    if apart:
        from agent.remote import RemoteCollector

        collector = RemoteCollector(server)
    else:
        from agent.client import Collector

        collector = Collector(server)
    raw_machine_id = identity.machine_id()
    try:
        # The school's key makes the fingerprint one that no machine id alone gives (issue 15).
        # A collector without keys (404) gets no fingerprint rather than the unkeyed hash.
        key = collector.fingerprint_key(code)
        if key is None:
            log.warning("the collector gives no fingerprint key: enrolling without a fingerprint")
        mark = None if key is None else identity.keyed(key, raw_machine_id)
        answer = collector.enroll(code=code, label=label, fingerprint=mark)
    except Unreachable as exc:
        raise FatalError(f"cannot reach {server}: {exc}") from None
    except CollectorError as exc:
        raise FatalError(f"enrolment refused: {exc}") from None
    finally:
        collector.close()
    me = identity.bound_to_machine(
        identity.Identity(
            server=server,
            device_id=answer["device_id"],
            group=str(answer.get("group", "")),
            school=str(answer.get("school", "")),
            fingerprint=mark,
            label=label,
        ),
        raw_machine_id,
    )
    paths.ensure()
    for stale in (paths.config, paths.status):
        stale.unlink(missing_ok=True)
    identity.save(paths, me, answer["token"])
    return me


def _enroll_from_file(paths: StatePaths, path: Path) -> None:
    """First start of an installed agent, or of a cloned image: enrol from the deploy tool's
    file. A state cloned from another machine is moved aside first, never reused or deleted."""
    from agent import identity
    from agent.errors import ClonedIdentity, NotEnrolled

    try:
        identity.load(paths, identity.machine_id())
        return
    except NotEnrolled:
        pass
    except ClonedIdentity:
        aside = paths.root / f"cloned-{int(time.time())}"
        aside.mkdir(mode=0o700)
        for name in (paths.identity, paths.token, paths.config, paths.status, paths.outbox):
            for part in paths.root.glob(name.name + "*"):
                part.rename(aside / part.name)
        log.warning("state cloned from another machine moved to %s; enrolling anew", aside)
    import tomllib  # only for a device that enrols itself from a file

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FatalError(f"cannot read enrolment file {path}: {exc}") from None
    server, code, label = data.get("server"), data.get("code"), data.get("label")
    if not isinstance(server, str) or not isinstance(code, str):
        raise FatalError(f'enrolment file {path} needs server = "https://..." and code = "..."')
    if label is not None and not isinstance(label, str):
        raise FatalError(f"enrolment file {path}: label must be a string")
    # No label from IT: none at all. A host name is often the pupil's own ("jan-jansen-laptop")
    # and would undo the pseudonymous device id.
    me = _enroll_as(paths, server, code, label or None, apart=True)
    log.info("enrolled from %s: device %s, group %s", path, me.device_id, me.group)


def _run(args: argparse.Namespace) -> int:
    from agent import identity
    from agent.config import Overrides
    from agent.runner import Agent, Options

    paths = _paths(args).ensure()
    if args.enroll_file is not None and args.enroll_file.exists():
        _enroll_from_file(paths, args.enroll_file)
    me, token = identity.load(paths, identity.machine_id())
    for name in ("sample_seconds", "grace_seconds", "upload_delay_max"):
        value = getattr(args, name)
        if (value is not None and not 0 <= value <= 86400) or (
            name == "sample_seconds" and value == 0
        ):
            raise FatalError(f"--{name.replace('_', '-')} must be a whole number of seconds")
    overrides = Overrides(args.sample_seconds, args.grace_seconds, args.upload_delay_max)
    options = Options(overrides=overrides, helper=_helper_settings(args))
    agent = Agent(paths, me.server, token, options)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("signal %d: stopping", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("lessonwatch-agent %s: device %s, state in %s", __version__, me.device_id, paths.root)
    agent.start()
    agent.wait()
    agent.shutdown()
    log.info("stopped; queued summaries are kept in %s", paths.outbox.name)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Worker threads may sit in an HTTP call; everything that matters is committed, so leave
    # now instead of waiting for them (SIGTERM must finish within 5 s).
    os._exit(0)


def _helper_settings(args: argparse.Namespace) -> Any:
    if args.helper_socket is None:
        return None
    from agent.hub import HelperSettings
    from agent.probes.helped import required_by_default

    required = required_by_default() if args.helper_required is None else True
    console = frozenset(args.helper_user) if args.helper_user else None
    return HelperSettings(args.helper_socket, required, console)


def _helper(args: argparse.Namespace) -> int:
    import threading

    from agent import helper
    from agent.channel import default_address

    address = args.socket or default_address(sys.platform)
    log.info("lessonwatch-agent %s helper: channel %s", __version__, address)
    with contextlib.suppress(KeyboardInterrupt):
        helper.run(address, os.environ, Path.home(), threading.Event())
    return 0


def _native_host(args: argparse.Namespace) -> int:
    from agent import native_host
    from agent.channel import default_address

    address = args.socket or default_address(sys.platform)
    return native_host.run([args.origin], address)


def _load_config(paths: StatePaths) -> Any:
    from agent.config import load_cache

    return load_cache(paths.config) if paths.config.exists() else None


def _status(args: argparse.Namespace) -> int:
    from agent.schedule import current_lesson, next_windows
    from agent.status import process_alive, read_status
    from policies import localtime
    from policies.wire import parse_time

    paths = _paths(args)
    config = _load_config(paths)
    running = read_status(paths.status)
    alive = bool(running) and process_alive(running.get("pid")) if running else False
    now = datetime.now(UTC)
    scheduled = current_lesson(config.lessons, now) if config else None
    counts = None
    if paths.outbox.exists():
        from agent.outbox import Outbox

        box = Outbox(paths.outbox)
        counts = box.counts()
        box.close()
    monitoring = running.get("monitoring") if alive and running else None
    data: dict[str, Any] = {
        "enrolled": paths.identity.exists(),
        "agent_running": alive,
        "monitoring": monitoring,
        "lesson_scheduled_now": scheduled.id if scheduled else None,
        "next_lessons": [
            {"id": x.id, "start": x.start.isoformat(), "end": x.end.isoformat()}
            for x in (next_windows(config.lessons, now) if config else [])
        ],
        "probes": running.get("probes") if alive and running else {},
        # None: the agent does not listen for a helper (or is not running).
        "helper": running.get("helper") if alive and running else None,
        # Paired mode: browser extensions connected now through their native host (None: the
        # agent does not listen on the helper channel, or is not running).
        "browser": running.get("browser") if alive and running else None,
        "settings": running.get("settings") if alive and running else None,
        "upload": running.get("upload") if running else None,
        "outbox": counts,
        # When the agent may talk to the collector (docs/agent.md): the coming windows.
        "contact_windows": [
            {"from": start.isoformat(), "until": end.isoformat()}
            for start, end in _coming_contacts(config, _policy_in_force(config, running), now)
        ],
    }
    if args.json:  # UTC, as everywhere in JSON
        print(json.dumps(data, indent=2))
        return 0
    # The text is for a person: the school's local time, its zone named on each time.
    tz = localtime.zone(config.timezone if config else None)

    def span(start: str, end: str) -> str:
        return localtime.span(parse_time(start, "start"), parse_time(end, "end"), tz, named=True)

    if not data["enrolled"]:
        print("not enrolled")
    if monitoring:
        until = localtime.clock(parse_time(monitoring["end"], "end"), tz, named=True)
        print(f"monitoring: ACTIVE, lesson {monitoring['lesson_id']} until {until}")
    else:
        print("monitoring: not active" + ("" if alive else " (the agent is not running)"))
    for x in data["next_lessons"]:
        print(f"  lesson {x['id']}: {span(x['start'], x['end'])}")
    for window in data["contact_windows"]:
        print(f"  talks to the collector: {span(window['from'], window['until'])}")
    if data["helper"] is not None:
        print(f"helper: {data['helper']}")
    browser = data["browser"]
    if isinstance(browser, dict):
        print(f"browser extension: {browser_text(browser)}")
    if counts:
        print(
            f"outbox: {counts['queued']} queued, {counts['parked']} refused, "
            f"{counts['dropped']} dropped"
        )
    return 0


def browser_text(browser: dict[str, Any]) -> str:
    """The status file's ``browser`` entry in words."""
    connected, dropped = browser.get("connected"), browser.get("dropped")
    text = "not connected"
    if isinstance(connected, int) and connected > 0:
        text = "connected" if connected == 1 else f"connected ({connected} browsers)"
    if isinstance(dropped, int) and dropped > 0:
        text += f"; {dropped} messages named no app of the policy and were dropped"
    return text


def _policy_in_force(config: AgentConfig | None, running: dict[str, Any] | None) -> Policy:
    """The policy with the values the running agent uses (the command line may override them),
    as its status file says; the shipped policy when the agent has no config yet."""
    from policies import load_policy

    policy = config.compiled.policy if config else load_policy()
    settings = (running or {}).get("settings")
    if isinstance(settings, dict):
        # Only the three values the status file holds (another key would not be a setting);
        # a grace of 0 is a value in force (``run --grace-seconds 0``), a sample of 0 is not.
        lowest = {"sample_seconds": 1, "grace_seconds": 0, "upload_delay_max_seconds": 0}
        in_force: dict[str, Any] = {
            k: v for k, v in settings.items() if k in lowest and type(v) is int and v >= lowest[k]
        }
        policy = dataclasses.replace(
            policy, settings=dataclasses.replace(policy.settings, **in_force)
        )
    return policy


def _coming_contacts(
    config: AgentConfig | None, policy: Policy, now: datetime
) -> list[tuple[datetime, datetime]]:
    """The contact windows of the coming school days with the upload spread in force (at most
    five): when the agent may talk to the collector, besides once on a school day."""
    from agent.schedule import contact_windows

    if config is None:
        return []
    ahead = [x for x in config.lessons if x.end > now]
    spread = timedelta(seconds=policy.settings.upload_delay_max_seconds)
    return contact_windows(ahead, spread)[:5]


def _explain(args: argparse.Namespace) -> int:
    from agent.explain import render
    from agent.schedule import next_windows
    from agent.status import read_status
    from policies import localtime

    paths = _paths(args)
    config = _load_config(paths)
    policy = _policy_in_force(config, read_status(paths.status))
    now = datetime.now(UTC)
    lessons = next_windows(config.lessons, now) if config else []
    tz = localtime.zone(config.timezone if config else None)
    sent: list[tuple[str, str]] = []
    if paths.outbox.exists():
        from agent.outbox import Outbox

        box = Outbox(paths.outbox)
        sent = box.last_lesson_sent()
        box.close()
    windows = _coming_contacts(config, policy, now)
    audience = _audience(config)
    text = render(policy, args.lang, lessons, now, tz, sent, _enrolment(paths), windows, audience)
    sys.stdout.write(text)
    return 0


def _audience(config: AgentConfig | None) -> Literal["pupil", "staff"]:
    """Whom this device belongs to, as the collector's config says (a pupil's by default)."""
    return "staff" if config and config.audience == "staff" else "pupil"


def _enrolment(paths: StatePaths) -> Enrolment | None:
    """What enrolment sent, from the identity file (never the token); None if not enrolled."""
    from agent.client import platform_name
    from agent.explain import Enrolment

    try:
        data = json.loads(paths.identity.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    label, mark = data.get("label"), data.get("fingerprint")
    return Enrolment(
        label=label if isinstance(label, str) else None,
        platform=platform_name(),
        version=__version__,
        fingerprint=mark if isinstance(mark, str) else None,
        # An identity with a machine check was written by an agent that keys its fingerprint.
        keyed=isinstance(data.get("machine_check"), str),
    )


def _scan(args: argparse.Namespace) -> int:
    from agent.probes import safe_call
    from agent.sampler import build_probes, sample
    from policies import LessonContext, compile_policy, load_policy

    config = _load_config(_paths(args))
    compiled = config.compiled if config else compile_policy(load_policy())
    now = datetime.now(UTC)
    lesson = LessonContext(
        "scan", now - timedelta(seconds=1), now + timedelta(hours=1), audience=_audience(config)
    )
    probes = build_probes(compiled)
    for probe in probes:
        safe_call(f"{probe.name} start", probe.start)
    try:
        findings, states = sample(probes, compiled, lesson, (), now)
    finally:
        for probe in probes:
            safe_call(f"{probe.name} stop", probe.stop)
    rows = [
        {"rule": f.rule, "category": f.category, "family": f.family, "signal": f.signal}
        for f in findings
    ]
    if args.json:
        print(json.dumps({"findings": rows, "probes": states}, indent=2))
        return 0
    for row in rows:
        print(f"{row['rule']}\t{row['category']}\t{row['family']}\t({row['signal']})")
    if not rows:
        print("no findings")
    print("probes: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
