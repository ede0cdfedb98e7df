"""The timetable commands of ``lessonwatch-service``: lessons import and list, sources, holidays.

Each command is a runner ``(settings, sessions, args) -> exit code`` rather than a handler in
the main command's one transaction: an import parses before it writes, and a sync fetches with
no transaction open. Secrets (feed URLs, tokens) are read from stdin, never from the command
line, and never printed. Documented in docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.cli.scope import school_name, the_school
from service.cli.text import JSON_HELP, tsv, when
from service.errors import InvalidRequest
from service.settings import Settings
from service.timetable import (
    REGIONS,
    Limits,
    TimetableError,
    dates_window,
    read_bounded,
    school_year,
)
from service.timetable.holidays import MAX_BYTES as HOLIDAY_BYTES
from service.timetable_store import fetch, holidays, imports, inputs, listing, sources, sync
from service.timetable_store.progress import Bar

Runner = Callable[[Settings, sessionmaker[Session], argparse.Namespace], int]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _refuse(message: str) -> int:
    print(f"lessonwatch-service: {message}", file=sys.stderr)
    return 1


def _day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{what} {text[:40]!r} is not a date (use YYYY-MM-DD)") from None


def _guarded(runner: Runner) -> Runner:
    """Timetable errors (file, line, UID) and unreadable files exit 1 with the message."""

    def run(settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace) -> int:
        try:
            return runner(settings, sessions, args)
        except TimetableError as exc:
            return _refuse(str(exc))
        except OSError as exc:
            return _refuse(f"{getattr(exc, 'filename', None) or 'input'}: {exc.strerror or exc}")

    return run


# lessons import / lessons list


def run_lessons_import(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        # Refused before the file is read, never founded by it.
        zone = the_school(session, args).timezone
    limits = Limits()
    path = Path(args.file)
    first, last = _day(args.from_date, "--from"), _day(args.to_date, "--to")
    if (first is None) != (last is None):
        raise InvalidRequest("give both --from and --to, or neither (the current school year)")
    if first is not None and last is not None and last < first:
        raise InvalidRequest(f"--to {last} is before its first day --from {first}")
    job = imports.FileImport(
        data=read_bounded(path, limits.max_bytes, path.name),
        name=path.name,
        source=args.source or path.name,
        window=None,
        mapping=inputs.mapping_text(args.mapping) if args.mapping else None,
        group=args.group,
        partial=args.partial,
        dry_run=args.dry_run,
    )
    now = datetime.now(UTC)

    def window_of(tz: ZoneInfo) -> Any:
        if first is not None and last is not None:
            return dates_window(first, last, tz)
        return school_year(now.astimezone(tz).date(), tz)

    bar = Bar(sys.stderr, f"{path.name}: expanding events")
    try:
        done = imports.run(
            sessions,
            school_name=school_name(args),
            job=job,
            now=now,
            window_of=window_of,
            limits=limits,
            progress=bar,
        )
    finally:
        bar.close()
    if done.applied is None:
        _print_json(done.preview)
        return 0
    p, a = done.preview, done.applied
    start, end = (when(p["window"][k], zone) for k in ("start", "end"))
    print(
        f"{job.source}: {p['lessons']} lessons from {start} to "
        f"{end}: {a.inserted} new, {a.updated} changed, {a.cancelled} cancelled, "
        f"{a.removed + a.kept_cancelled} removed, {p['plan']['unchanged']} unchanged, "
        f"{p['plan']['frozen']} already over"
    )
    for reason, count in p["skipped"].items():
        print(f"  left out: {count} ({reason})")
    for problem in p["problems"]:
        print(f"  left out: {problem}")
    return 0


def run_lessons_list(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    first, last = _day(args.from_date, "--from"), _day(args.to_date, "--to")
    day = _day(args.date, "--date")
    if day is not None:
        if first is not None or last is not None:
            raise InvalidRequest("--date cannot be combined with --from or --to")
        first = last = day
    with sessions.begin() as session:
        school = the_school(session, args)
        rows = listing.list_lessons(
            session, school=school, group=args.group, first=first, last=last
        )
        zone = school.timezone
    if args.json:
        _print_json(rows)
        return 0
    for j in rows:
        flags = [k for k in ("remote", "cancelled") if j[k]] + (
            ["holiday"] if "holiday" in j else []
        )
        print(
            tsv(j["id"], j["group"], when(j["start"], zone), when(j["end"], zone), j["teacher"])
            + "\t"
            + tsv(j["subject"], j["room"], ",".join(flags))
        )
    return 0


# sources add / list / sync / remove


def _params(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"--param {item[:40]!r} is not KEY=VALUE")
        found[key] = value
    return found


def run_sources_add(
    settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    from service.cli.main import parse_duration

    secret = sys.stdin.readline().strip()
    interval = int(parse_duration(args.every).total_seconds()) if args.every != "0" else 0
    with sessions.begin() as session:
        school = the_school(session, args)
        row = sources.add_source(
            session,
            school=school,
            settings=settings,
            name=args.name,
            kind=args.kind,
            now=datetime.now(UTC),
            secret=secret,
            portal=args.portal,
            mapping=inputs.mapping_text(args.mapping) if args.mapping else None,
            default_group=args.group,
            interval_seconds=interval,
            days_ahead=args.days_ahead,
            params=_params(args.param),
        )
        print(tsv(row.name, row.kind, row.secret_hint))
    return 0


def run_sources_list(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        school = the_school(session, args)
        rows = [sources.to_json(s) for s in sources.list_sources(session, school=school)]
        zone = school.timezone
    if args.json:
        _print_json(rows)
        return 0
    for j in rows:
        error = (j["last_error"] or "").splitlines()[:1]
        print(
            tsv(
                j["name"],
                j["kind"],
                j["location"],
                when(j["last_sync_at"], zone),
                j["last_result"],
                *error,
            )
            + ("" if error else "\t-")
        )
    return 0


def run_sources_sync(
    settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        school = the_school(session, args)
        if args.name:
            chosen = [sources.get(session, school=school, name=args.name)]
        else:
            chosen = [
                s for s in sources.list_sources(session, school=school) if s.kind in sources.FETCHED
            ]
        for row in chosen:
            if row.kind not in sources.FETCHED:
                raise InvalidRequest(
                    f"source {row.name!r} is a {row.kind} source: import the file again instead"
                )
        ids = [(row.id, row.name) for row in chosen]
    failed = 0
    for source_id, name in ids:
        outcome = sync.sync_one(
            sessions, settings, source_id=source_id, now=datetime.now(UTC), actor="cli"
        )
        if outcome.result == "ok":
            counts = ", ".join(f"{k} {v}" for k, v in outcome.counts.items())
            print(f"{name}: ok: {counts}")
        elif outcome.result == "busy":
            failed += 1
            print(
                f"lessonwatch-service: {name}: another collector process is syncing it; "
                "try again shortly",
                file=sys.stderr,
            )
        else:
            failed += 1
            print(
                f"lessonwatch-service: {name}: {outcome.result}: {outcome.error}", file=sys.stderr
            )
    return 1 if failed else 0


def run_sources_remove(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        school = the_school(session, args)
        gone = sources.remove_source(session, school=school, name=args.name, now=datetime.now(UTC))
    print(f"{args.name}: removed; {gone.removed + gone.kept_cancelled} lessons to come removed")
    return 0


# holidays import / list


def run_holidays_import(
    settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        the_school(session, args)  # refused before anything is fetched or read
    where = args.source
    if where.startswith(("http://", "https://")):
        url = sources.check_url(where, "holiday URL")
        data = fetch.fetch(
            fetch.Request(url=url, name="holidays"),
            limit=HOLIDAY_BYTES,
            allow=settings.allowed_fetch_hosts,
        )
        name = sources.check_url(where, "holiday URL").rsplit("/", 1)[-1] or "holidays"
    else:
        path = Path(where)
        data = read_bounded(path, HOLIDAY_BYTES, path.name)
        name = path.name
    region: str | None = None
    with sessions.begin() as session:
        school = the_school(session, args)
        actor = Actor.operator(school)
        now = datetime.now(UTC)
        # --shared: the national reference every school reads, the operator's for the board.
        result = holidays.import_file(
            session,
            actor=actor,
            data=data,
            name=name,
            now=now,
            shared=args.shared,
            region=args.region,
        )
        if not args.shared and (args.region is not None or args.ignore_advised is not None):
            advised = (
                school.holiday_advised if args.ignore_advised is None else not args.ignore_advised
            )
            holidays.set_region(
                session,
                actor=actor,
                region=args.region if args.region is not None else school.holiday_region,
                advised=advised,
                now=now,
            )
        region = school.holiday_region
    years = ", ".join(result.schoolyears) or "no school year"
    regions = ", ".join(result.regions) or "no region"
    if args.shared:
        print(f"{result.stored} holiday periods stored for {years} ({regions}) for every school")
        return 0
    print(
        f"{result.stored} holiday periods stored for {years} ({regions}) for this school only; "
        f"the school's region: {region or 'not set'}"
    )
    return 0


def run_holidays_forget(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        school = the_school(session, args)
        removed = holidays.forget_own(session, actor=Actor.operator(school), now=datetime.now(UTC))
    print(f"{removed} holiday periods of this school removed; it reads the shared holidays")
    return 0


def run_holidays_list(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    with sessions.begin() as session:
        school = the_school(session, args)
        region = args.region or school.holiday_region
        rows = holidays.stored(session, school_id=school.id, region=region)
    items = [
        {
            "name": h.name,
            "schoolyear": h.schoolyear,
            "region": h.region,
            "first_day": h.first_day.isoformat(),
            "last_day": h.last_day.isoformat(),
            "compulsory": h.compulsory,
        }
        for h in rows
    ]
    if args.json:
        _print_json(items)
        return 0
    for h in rows:
        advised = "" if h.compulsory else "\tadvised"
        print(tsv(h.first_day.isoformat(), h.last_day.isoformat(), h.region, h.name) + advised)
    return 0


def _fetch_errors(runner: Runner) -> Runner:
    def run(settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace) -> int:
        try:
            return runner(settings, sessions, args)
        except fetch.FetchFailed as exc:
            return _refuse(str(exc))

    return run


def add_lesson_commands(
    lessons: Any, listing_parser: argparse.ArgumentParser, common: argparse.ArgumentParser
) -> None:
    """``lessons import`` and the date options of ``lessons list``."""
    imp = lessons.add_parser(
        "import", parents=[common], help="import an iCalendar or CSV file into the lessons"
    )
    imp.add_argument("file", help="an .ics or .csv file (told apart by content)")
    imp.add_argument("--group", help="the group of lessons whose event names none")
    imp.add_argument("--from", dest="from_date", help="first day YYYY-MM-DD (with --to)")
    imp.add_argument("--to", dest="to_date", help="last day YYYY-MM-DD (default: school year)")
    imp.add_argument("--dry-run", action="store_true", help="print the preview; store nothing")
    imp.add_argument("--mapping", help="a mapping preset's name or a TOML mapping file")
    imp.add_argument("--partial", action="store_true", help="store what is right, list the rest")
    imp.add_argument("--source", help="the source's name (default: the file's name)")
    imp.set_defaults(runner=_guarded(run_lessons_import))
    listing_parser.add_argument("--from", dest="from_date", help="first day YYYY-MM-DD")
    listing_parser.add_argument("--to", dest="to_date", help="last day YYYY-MM-DD (inclusive)")
    listing_parser.set_defaults(runner=_guarded(run_lessons_list))


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``sources`` and ``holidays``."""
    src = sub.add_parser("sources", help="timetable sources").add_subparsers(
        dest="action", required=True
    )
    add = src.add_parser(
        "add", parents=[common], help="add a feed or Zermelo source; its secret on stdin"
    )
    add.add_argument("name", help="the source's name, for 'sources sync' and 'sources remove'")
    add.add_argument(
        "--kind", required=True, choices=sources.FETCHED, help="an iCalendar feed or Zermelo"
    )
    add.add_argument("--portal", help="Zermelo: https://SCHOOL.zportal.nl")
    add.add_argument("--mapping", help="iCalendar: a mapping preset's name or a TOML file")
    add.add_argument("--group", help="the group of lessons whose event names none")
    add.add_argument("--every", default="1h", help="sync interval (5m at least; 0: by hand only)")
    add.add_argument("--days-ahead", type=int, help="how far ahead to sync [56]")
    add.add_argument("--param", action="append", default=[], help="Zermelo query KEY=VALUE")
    add.set_defaults(runner=_guarded(run_sources_add))
    lst = src.add_parser("list", parents=[common], help="sources and their last sync")
    lst.add_argument("--json", action="store_true", help=JSON_HELP)
    lst.set_defaults(runner=run_sources_list, read_only=True)
    syn = src.add_parser("sync", parents=[common], help="sync one source (or all) now")
    syn.add_argument("name", nargs="?", help="the source (default: every feed and Zermelo)")
    syn.set_defaults(runner=run_sources_sync)
    rem = src.add_parser("remove", parents=[common], help="remove a source and its coming lessons")
    rem.add_argument("name", help="the source's name, as 'sources list' shows")
    rem.set_defaults(runner=run_sources_remove)

    hol = sub.add_parser("holidays", help="school holidays").add_subparsers(
        dest="action", required=True
    )
    himp = hol.add_parser("import", parents=[common], help="import Rijksoverheid holidays")
    himp.add_argument(
        "source", metavar="FILE|URL", help="the Rijksoverheid school-holiday JSON, file or URL"
    )
    himp.add_argument(
        "--shared",
        action="store_true",
        help="store as the national reference every school reads (default: this school's own)",
    )
    himp.add_argument("--region", choices=REGIONS, help="only this region; the school's region")
    himp.add_argument(
        "--ignore-advised",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the school moved the advised autumn or spring holiday",
    )
    himp.set_defaults(runner=_fetch_errors(_guarded(run_holidays_import)))
    hforget = hol.add_parser(
        "forget", parents=[common], help="remove this school's own holidays (the shared apply)"
    )
    hforget.set_defaults(runner=run_holidays_forget)
    hlist = hol.add_parser("list", parents=[common], help="stored holidays")
    hlist.add_argument("--region", choices=REGIONS, help="default: the school's region")
    hlist.add_argument("--json", action="store_true", help=JSON_HELP)
    hlist.set_defaults(runner=run_holidays_list, read_only=True)
