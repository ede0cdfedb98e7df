"""The ``lessonwatch-service`` command: serve the collector and administer it from a shell.

IT and admins script against this command, so its names, options and output are stable and
documented in docs/cli.md. Every command takes ``--db URL`` (or ``LESSONWATCH_DB``): a command
that writes creates and migrates the database, one that only reads (``read_only``) refuses one
that is not there (``service.cli.scope``). Exit codes: 0 done, 1 refused (message on stderr), 2
usage error.

A command acts as ``Actor.operator`` of the school named with ``--school``, which must exist
(``schools add`` founds one): it calls the same operations as the pages and the JSON API
(access, validation, one audit entry named ``cli``), and parses and prints, nothing more.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from policies import PolicyError
from policies.document import read_override
from policies.groupchat.chat import ChatInputError
from policies.wire import format_time
from service import db
from service.accounts import users
from service.actors import Actor
from service.cli import scope
from service.cli import timetable as timetable_cli
from service.cli.text import JSON_HELP, between, shown, tsv, when
from service.demo import serve as demo
from service.devices import enrolment, subject_access
from service.devices import registry as devices
from service.errors import InvalidRequest, ServiceError
from service.groupchats import register as groupchats
from service.lessons import permissions
from service.lessons import records as lessons
from service.models import School
from service.reports.lesson_report import lesson_report
from service.retention import purge as retention
from service.schools import founding
from service.schools import registry as schools
from service.schools import settings as school_settings
from service.settings import Settings
from service.timetable import REGIONS

DEFAULT_PORT = 8470
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidRequest(f"not a duration: {text!r} (use for example 30m, 12h, 7d, 2w)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_when(text: str, school: School) -> datetime:
    """ISO 8601; a time without an offset is the school's local time."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=schools.check_timezone(school.timezone))
    return value.astimezone(UTC)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


@dataclass(frozen=True)
class Run:
    """What every command gets: its transaction, the school of ``--school`` and the time."""

    session: Session
    school: School
    now: datetime

    @property
    def actor(self) -> Actor:
        return Actor.operator(self.school)


def cmd_lessons_add(run: Run, args: argparse.Namespace) -> None:
    teacher = (
        users.by_username(run.session, args.teacher, school=run.school) if args.teacher else None
    )
    lesson = lessons.add_lesson(
        run.session,
        school=run.school,
        group=args.group,
        start=parse_when(args.start, run.school),
        end=parse_when(args.end, run.school),
        now=run.now,
        teacher=teacher,
        subject=args.subject,
        room=args.room,
        remote=args.remote,
        actor=run.actor,
    )
    print(lesson.id)


def cmd_enroll_code(run: Run, args: argparse.Namespace) -> None:
    print(
        enrolment.create_code(
            run.session,
            actor=run.actor,
            group=args.group,
            uses=args.uses,
            lifetime=parse_duration(args.expires_in),
            now=run.now,
        )
    )


def cmd_enroll_code_list(run: Run, args: argparse.Namespace) -> None:
    rows = enrolment.list_codes(run.session, actor=run.actor)
    if args.json:
        _print_json(
            [
                {
                    "id": r.id,
                    "group": r.group,
                    "uses_left": r.uses_left,
                    "devices": r.devices,
                    "active_devices": r.active_devices,
                    "created_at": format_time(r.created_at),
                    "expires_at": format_time(r.expires_at),
                    "revoked_at": format_time(r.revoked_at) if r.revoked_at else None,
                    "active": r.active(run.now),
                }
                for r in rows
            ]
        )
        return
    for r in rows:
        state = "revoked" if r.revoked_at else ("active" if r.active(run.now) else "spent")
        uses = (f"{r.uses_left} left", f"{r.devices} enrolled", f"{r.active_devices} active")
        expires = when(format_time(r.expires_at), run.school.timezone)
        print(tsv(str(r.id), r.group, *uses, expires, state))


def cmd_enroll_code_revoke(run: Run, args: argparse.Namespace) -> None:
    enrolment.revoke_code(run.session, actor=run.actor, code_id=args.code_id, now=run.now)
    if args.retire_devices:
        cmd_enroll_code_retire_devices(run, args)


def cmd_enroll_code_retire_devices(run: Run, args: argparse.Namespace) -> None:
    n = enrolment.retire_code_devices(
        run.session, actor=run.actor, code_id=args.code_id, now=run.now
    )
    print(f"devices retired: {n}")


def cmd_users_add(run: Run, args: argparse.Namespace) -> None:
    password = sys.stdin.readline().rstrip("\r\n")
    user = users.add_user(
        run.session,
        actor=run.actor,
        username=args.username,
        role=args.role,
        password=password,
        now=run.now,
    )
    print(user.username)


def cmd_tokens_create(run: Run, args: argparse.Namespace) -> None:
    user = users.by_username(run.session, args.username, school=run.school)
    print(users.create_token(run.session, actor=run.actor, user=user, now=run.now))


def cmd_tokens_revoke(run: Run, args: argparse.Namespace) -> None:
    user = users.by_username(run.session, args.username, school=run.school)
    print(users.revoke_tokens(run.session, actor=run.actor, user=user, now=run.now))


def _count(devices: int | None, threshold: int) -> str:
    return f"fewer than {threshold} devices" if devices is None else f"{devices} devices"


def cmd_report(run: Run, args: argparse.Namespace) -> None:
    report = lesson_report(run.session, lesson_id=args.lesson_id, actor=run.actor, now=run.now)
    if args.json:
        _print_json(report)
        return
    lesson, threshold = report["lesson"], report["suppressed_below"]
    span = between(lesson["start"], lesson["end"], run.school.timezone)
    print(f"lesson {lesson['id']} ({shown(lesson['group'])}, {span})")
    print(f"devices reporting: {report['devices_reporting']} of {report['devices_expected']}")
    for r in report["families"]:
        seconds = "" if r["seconds"] is None else f", {r['seconds']} s"
        name = f"{shown(r['category'])}/{shown(r['family'])}"
        print(f"  {name}: {_count(r['devices'], threshold)}{seconds}")


def cmd_purge(run: Run, _args: argparse.Namespace) -> None:
    result = retention.purge(run.session, now=run.now)
    if not result.ran:
        print("another collector process is purging; nothing done")
        return
    print(
        f"lessons frozen: {result.lessons_frozen}; summaries deleted: "
        f"{result.summaries_deleted}; old lessons deleted: {result.lessons_deleted}; "
        f"audit entries deleted: {result.audit_deleted}"
    )


def cmd_devices_list(run: Run, args: argparse.Namespace) -> None:
    rows = devices.list_devices(run.session, school=run.school, duplicates_only=args.duplicates)
    if args.json:
        _print_json([r.to_json() for r in rows])
        return
    for r in rows:
        j = r.to_json()
        state = "retired" if j["retired"] else ("DUPLICATE" if j["duplicate"] else "ok")
        fingerprint = (j["fingerprint"] or "")[:12]
        print(
            tsv(j["id"], j["group"], j["label"], j["platform"], j["agent_version"])
            + "\t"
            + tsv(j["last_seen"], fingerprint, state)
        )


def cmd_devices_retire(run: Run, args: argparse.Namespace) -> None:
    devices.retire(run.session, actor=run.actor, device_id=args.device_id, now=run.now)


def cmd_devices_export(run: Run, args: argparse.Namespace) -> None:
    _print_json(
        subject_access.export_device(
            run.session, actor=run.actor, device_id=args.device_id, now=run.now
        )
    )


def cmd_devices_erase(run: Run, args: argparse.Namespace) -> None:
    print(
        subject_access.erase_device(
            run.session, actor=run.actor, device_id=args.device_id, now=run.now
        )
    )


def cmd_permissions_grant(run: Run, args: argparse.Namespace) -> None:
    permission = permissions.grant(
        run.session,
        actor=run.actor,
        lesson_id=args.lesson_id,
        categories=[c.strip() for c in args.categories.split(",") if c.strip()],
        note=args.note,
        now=run.now,
    )
    print(permission.id)


def cmd_permissions_withdraw(run: Run, args: argparse.Namespace) -> None:
    permissions.withdraw(
        run.session,
        actor=run.actor,
        lesson_id=args.lesson_id,
        permission_id=args.permission_id,
        now=run.now,
    )


# ``schools add`` and ``schools list`` are about the collector's schools, not one school: they
# take no --school and get the transaction and the time instead of a ``Run``.


def cmd_schools_add(session: Session, now: datetime, args: argparse.Namespace) -> None:
    school = founding.add_school(session, name=args.name, timezone=args.timezone, now=now)
    print(school.name)


def cmd_schools_list(session: Session, _now: datetime, args: argparse.Namespace) -> None:
    rows = [(s.name, s.timezone) for s in schools.all_schools(session)]
    if args.json:
        _print_json([{"name": name, "timezone": tz} for name, tz in rows])
        return
    for name, tz in rows:
        print(tsv(name, tz))


def cmd_schools_show(run: Run, _args: argparse.Namespace) -> None:
    school = run.school
    _print_json(
        {
            "name": school.name,
            "timezone": school.timezone,
            "retention_days": school.retention_days,
            "audit_retention_days": school.audit_retention_days,
            "disclosure": school.disclosure,
            "small_count_threshold": school.small_count_threshold,
            "closed_platform": school.closed_platform,
            "holiday_region": school.holiday_region,
            "holiday_advised": school.holiday_advised,
            "policy_override": school.policy_override is not None,
        }
    )


def cmd_schools_set(run: Run, args: argparse.Namespace) -> None:
    changes = school_settings.Changes(
        timezone=args.timezone,
        retention_days=args.retention_days,
        audit_retention_days=args.audit_retention_days,
        small_count_threshold=args.small_count_threshold,
        holiday_region=args.holiday_region,
    )
    if changes != school_settings.Changes():
        school_settings.change(run.session, actor=run.actor, changes=changes, now=run.now)
    if args.closed_platform is not None:
        try:
            groupchats.set_closed_platform(
                run.session,
                actor=run.actor,
                closed_platform=args.closed_platform.strip() or None,
                catalog=groupchats.shipped_catalog(),
                now=run.now,
            )
        except ChatInputError as exc:
            raise InvalidRequest(
                "%(problem)s", problem=" ".join(exc.messages("en").values())
            ) from None
    if args.policy_override is not None:
        text = _read_override(args.policy_override)
        try:
            school_settings.save_policy_override(
                run.session, actor=run.actor, text=text, now=run.now
            )
        except PolicyError as exc:
            raise InvalidRequest(str(exc)) from None


def _read_override(path: str) -> str:
    if path == "":
        return ""
    try:
        _, text = read_override(Path(path))
    except PolicyError as exc:
        raise InvalidRequest(str(exc)) from None
    return text


Handler = Callable[[Run, argparse.Namespace], None]
Clock = Callable[[], datetime]


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, each with its help text (a test walks them all).

    ``read_only=True`` marks a command that only reads: it opens an existing database only.
    """
    parser = argparse.ArgumentParser(
        prog="lessonwatch-service", description="The lessonwatch collector and its administration."
    )
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--db",
        help="database URL (default: $LESSONWATCH_DB or a SQLite file in the data directory)",
    )
    common = argparse.ArgumentParser(add_help=False, parents=[database])
    common.add_argument(
        "--school",
        help="name of an existing school (default: $LESSONWATCH_SCHOOL or 'School'); "
        "'schools add' founds one",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[database], help="run the collector")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on [{DEFAULT_PORT}]"
    )

    les = sub.add_parser("lessons", help="timetable").add_subparsers(dest="action", required=True)
    add = les.add_parser("add", parents=[common], help="add one lesson; prints its id")
    add.add_argument("--group", required=True, help="the group (class); created on first use")
    add.add_argument("--start", required=True, help="ISO 8601; without offset: school time")
    add.add_argument("--end", required=True, help="ISO 8601; without offset: school time")
    add.add_argument("--teacher", help="username of the teaching user")
    add.add_argument("--subject", help="the subject, for example wiskunde")
    add.add_argument("--room", help="the room; created on first use")
    add.add_argument("--remote", action="store_true", help="a remote lesson (rule A.7)")
    add.set_defaults(handler=cmd_lessons_add)
    lst = les.add_parser("list", parents=[common], help="list lessons")
    lst.add_argument("--group", help="only this group's lessons")
    lst.add_argument("--date", help="one day YYYY-MM-DD, in school time")
    lst.add_argument("--json", action="store_true", help=JSON_HELP)
    lst.set_defaults(read_only=True)
    timetable_cli.add_lesson_commands(les, lst, common)

    codes = sub.add_parser("enroll-code", help="enrolment codes").add_subparsers(
        dest="action", required=True
    )
    create = codes.add_parser("create", parents=[common], help="create a code; prints it")
    create.add_argument("--group", required=True, help="the group its devices are enrolled in")
    create.add_argument("--uses", type=int, default=40, help="how many devices it enrols [40]")
    create.add_argument("--expires-in", default="7d", help="30m, 12h, 7d, 2w, ... [7d]")
    create.set_defaults(handler=cmd_enroll_code)
    clist = codes.add_parser("list", parents=[common], help="list codes with their uses")
    clist.add_argument("--json", action="store_true", help=JSON_HELP)
    clist.set_defaults(handler=cmd_enroll_code_list, read_only=True)
    revoke = codes.add_parser("revoke", parents=[common], help="make a code enrol nothing more")
    revoke.add_argument("code_id", type=int, help="the code's id, as 'enroll-code list' shows")
    revoke.add_argument(
        "--retire-devices", action="store_true", help="also retire every device it enrolled"
    )
    revoke.set_defaults(handler=cmd_enroll_code_revoke)
    cretire = codes.add_parser(
        "retire-devices", parents=[common], help="retire every device a code enrolled"
    )
    cretire.add_argument("code_id", type=int, help="the code's id, as 'enroll-code list' shows")
    cretire.set_defaults(handler=cmd_enroll_code_retire_devices)

    usr = sub.add_parser("users", help="staff accounts").add_subparsers(
        dest="action", required=True
    )
    uadd = usr.add_parser("add", parents=[common], help="add a user; password on stdin")
    uadd.add_argument("--username", required=True, help="the sign-in name")
    uadd.add_argument(
        "--role",
        required=True,
        choices=["admin", "leader", "teacher", "it"],
        help="what the user may do (docs/cli.md, 'users add')",
    )
    uadd.set_defaults(handler=cmd_users_add)

    tok = sub.add_parser("tokens", help="personal API tokens").add_subparsers(
        dest="action", required=True
    )
    tcreate = tok.add_parser("create", parents=[common], help="create a token; prints it")
    tcreate.add_argument("--username", required=True, help="the user the token acts as")
    tcreate.set_defaults(handler=cmd_tokens_create)
    trevoke = tok.add_parser("revoke", parents=[common], help="revoke all of a user's tokens")
    trevoke.add_argument("--username", required=True, help="the user whose tokens stop working")
    trevoke.set_defaults(handler=cmd_tokens_revoke)

    rep = sub.add_parser("report", parents=[common], help="a lesson's report")
    rep.add_argument("lesson_id", help="the lesson's id (l_...)")
    rep.add_argument("--json", action="store_true", help="the JSON of the HTTP endpoint")
    rep.set_defaults(handler=cmd_report, read_only=True)

    purge = sub.add_parser("purge", parents=[common], help="run the retention purge now")
    purge.set_defaults(handler=cmd_purge)

    dev = sub.add_parser("devices", help="enrolled devices").add_subparsers(
        dest="action", required=True
    )
    dlist = dev.add_parser("list", parents=[common], help="list devices")
    dlist.add_argument("--duplicates", action="store_true", help="only cloned-image duplicates")
    dlist.add_argument("--json", action="store_true", help=JSON_HELP)
    dlist.set_defaults(handler=cmd_devices_list, read_only=True)
    dretire = dev.add_parser("retire", parents=[common], help="revoke a device's token")
    dretire.add_argument("device_id", help="the device's id (d_...)")
    dretire.set_defaults(handler=cmd_devices_retire)
    dexport = dev.add_parser(
        "export", parents=[common], help="print everything stored about a device as JSON"
    )
    dexport.add_argument("device_id", help="the device's id (d_...)")
    dexport.set_defaults(handler=cmd_devices_export, read_only=True)
    derase = dev.add_parser(
        "erase", parents=[common], help="delete a device and its summaries; prints how many"
    )
    derase.add_argument("device_id", help="the device's id (d_...)")
    derase.set_defaults(handler=cmd_devices_erase)

    perm = sub.add_parser("permissions", help="permissions for lessons").add_subparsers(
        dest="action", required=True
    )
    grant = perm.add_parser("grant", parents=[common], help="grant categories for one lesson")
    grant.add_argument("lesson_id", help="the lesson's id (l_...)")
    grant.add_argument("--categories", required=True, help="comma-separated category ids")
    grant.add_argument("--note", help="why, at most 500 characters")
    grant.set_defaults(handler=cmd_permissions_grant)
    withdraw = perm.add_parser(
        "withdraw", parents=[common], help="withdraw one permission of a lesson"
    )
    withdraw.add_argument("lesson_id", help="the lesson's id (l_...)")
    withdraw.add_argument("permission_id", type=int, help="the id 'permissions grant' printed")
    withdraw.set_defaults(handler=cmd_permissions_withdraw)

    sch = sub.add_parser("schools", help="schools and their settings").add_subparsers(
        dest="action", required=True
    )
    sadd = sch.add_parser(
        "add", parents=[database], help="found a school with the default settings; prints it"
    )
    sadd.add_argument("name", help="the school's name, as --school names it")
    sadd.add_argument(
        "--timezone",
        default=schools.DEFAULT_TIMEZONE,
        help=f"IANA time zone of its lessons [{schools.DEFAULT_TIMEZONE}]",
    )
    sadd.set_defaults(board=cmd_schools_add)
    slist = sch.add_parser("list", parents=[database], help="the schools on this collector")
    slist.add_argument("--json", action="store_true", help=JSON_HELP)
    slist.set_defaults(board=cmd_schools_list, read_only=True)
    show = sch.add_parser("show", parents=[common], help="print the school's settings as JSON")
    show.set_defaults(handler=cmd_schools_show, read_only=True)
    sset = sch.add_parser("set", parents=[common], help="change the school's settings")
    sset.add_argument("--timezone", help="IANA time zone, for example Europe/Amsterdam")
    sset.add_argument("--retention-days", type=int, help="days device-level data is kept (1-366)")
    sset.add_argument("--audit-retention-days", type=int, help="days the audit log is kept")
    sset.add_argument(
        "--small-count-threshold", type=int, help="counts below it show as 'fewer than' (1-100)"
    )
    sset.add_argument("--closed-platform", help="the closed group-chat platform ('' to clear)")
    sset.add_argument("--policy-override", help="a TOML override file ('' to clear)")
    sset.add_argument("--holiday-region", choices=REGIONS, help="noord, midden or zuid")
    sset.set_defaults(handler=cmd_schools_set)
    timetable_cli.add_commands(sub, common)
    demo_cmd = sub.add_parser("demo", help="the demo school with a local agent (README)")
    demo.add_arguments(demo_cmd)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(db=args.db) if args.db else Settings()


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.cli.access_log import log_config

    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        proxy_headers=False,
        log_config=log_config(settings.access_log_addresses),
    )
    return 0


def _now() -> datetime:
    return datetime.now(UTC)


def main(argv: Sequence[str] | None = None, *, clock: Clock = _now) -> int:
    """Run one command; ``clock`` is the time its operations see (tests pass a fake one)."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":  # its own fresh SQLite database; takes no --db
        return demo.run(args)
    try:
        settings = _settings(args)
        if args.command == "serve":
            return _serve(settings, args)
        engine = scope.open_database(settings.db, read_only=getattr(args, "read_only", False))
        try:
            if getattr(args, "runner", None) is not None:
                # Timetable commands open their own transactions (parse first, then write).
                return int(args.runner(settings, db.session_factory(engine), args))
            with db.session_factory(engine).begin() as session:
                if getattr(args, "board", None) is not None:
                    args.board(session, clock(), args)
                else:
                    args.handler(Run(session, scope.the_school(session, args), clock()), args)
        finally:
            engine.dispose()
    except ServiceError as exc:
        print(f"lessonwatch-service: {exc.message}", file=sys.stderr)
        return 1
    return 0
