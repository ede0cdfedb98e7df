"""Shared test vectors: the Python engine's and summary's answers, for the extension's JS.

``python browser/tools/vectors.py`` writes ``browser/test/vectors.json`` and the extension's
bundled catalog ``browser/policy.json``; ``--check`` exits 1
if the checked-in file differs from what the Python code answers now. The node tests
(browser/test/vectors.test.js) run the JS engine on the same inputs and compare, and
tests/browser/test_extension_vectors.py runs both, so a change on either side that is not made
on the other fails the suite.

The inputs are hand-picked edge cases plus seeded pseudo-random lessons (the same on every
run): hosts a tab can show, lessons in every scope, permissions given and withdrawn mid-lesson,
samples early, late, with gaps, and summaries cut before, at and after the lesson's end.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent import backoff, schedule, summary, uploader
from agent.config import Lesson
from policies.engine import (
    LessonContext,
    Permission,
    classify,
    compile_policy,
    evaluate,
)
from policies.load import effective_document, policy_from_document
from policies.observations import DomainSeen

BROWSER = Path(__file__).resolve().parent.parent
OUT = BROWSER / "test" / "vectors.json"
# The shipped policy, bundled with the extension: the catalog it classifies by in paired mode,
# where the agent (not the extension) holds the school's config.
POLICY = BROWSER / "policy.json"
T0 = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
AGENT_VERSION = "0.1.0+browser"

HOSTS = [
    "instagram.com",
    "www.instagram.com",
    "WWW.Instagram.COM.",
    "m.instagram.com",
    "help.instagram.com",
    "cdninstagram.com",
    "scontent.cdninstagram.com",
    "notinstagram.com",
    "instagram.com.example.net",
    "tiktok.com",
    "www.tiktok.com",
    "tiktokcdn.com",
    "discord.com",
    "discord.gg",
    "discordapp.net",
    "web.whatsapp.com",
    "whatsapp.com",
    "whatsapp.net",
    "youtube.com",
    "m.youtube.com",
    "youtu.be",
    "x.com",
    "t.co",
    "reddit.com",
    "old.reddit.com",
    "redd.it",
    "snapchat.com",
    "web.snapchat.com",
    "facebook.com",
    "messenger.com",
    "fb.me",
    "pinterest.com",
    "bereal.com",
    "xn--instagrm-0wa.com",
    "www.",
    "com",
    "",
    "localhost",
    "127.0.0.1",
    "school.example.nl",
    "instagram.com:443",
]
SCENARIO_HOSTS = [
    "www.instagram.com",
    "tiktok.com",
    "discord.com",
    "youtube.com",
    "web.whatsapp.com",
    "cdninstagram.com",
    "school.example.nl",
    None,
]


def iso(at: datetime) -> str:
    text = at.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def documents() -> dict[str, dict[str, Any]]:
    """The shipped policy, and one with the video rule switched on (off by default)."""
    shipped = effective_document()
    video = copy.deepcopy(shipped)
    for rule in video["rules"]:
        if rule["id"] == "a1-video-streaming":
            rule["enabled"] = True
    return {"shipped": shipped, "video": video}


def lesson_json(ctx: LessonContext) -> dict[str, Any]:
    return {
        "id": ctx.lesson_id,
        "start": iso(ctx.start),
        "end": iso(ctx.end),
        "remote": ctx.remote,
        "cancelled": ctx.cancelled,
        "audience": ctx.audience,
    }


def permission_json(p: Permission) -> dict[str, Any]:
    return {
        "lesson_id": p.lesson_id,
        "categories": sorted(p.categories),
        "granted_at": iso(p.granted_at),
        "withdrawn_at": iso(p.withdrawn_at) if p.withdrawn_at else None,
    }


def classification_cases(docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    cases = []
    for name, doc in docs.items():
        compiled = compile_policy(policy_from_document(doc))
        for host in HOSTS:
            match = classify(compiled, DomainSeen(host))
            cases.append(
                {
                    "policy": name,
                    "host": host,
                    "match": None
                    if match is None
                    else {"category": match.category, "family": match.family},
                }
            )
    return cases


def _lessons() -> list[LessonContext]:
    end = T0 + timedelta(minutes=50)
    return [
        LessonContext("L1", T0, end),
        LessonContext("L1", T0, end, remote=True),
        LessonContext("L1", T0, end, cancelled=True),
        LessonContext("L1", T0, end, audience="staff"),
    ]


def _permissions() -> list[list[Permission]]:
    social = frozenset({"social_media"})
    return [
        [],
        [Permission("L1", social, T0 + timedelta(minutes=10))],
        [Permission("L1", social, T0, T0 + timedelta(minutes=20))],
        [Permission("L2", social, T0)],
        [Permission("L1", frozenset({"video_streaming"}), T0)],
    ]


def evaluate_cases(docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    cases = []
    moments = [
        T0 - timedelta(seconds=1),
        T0,
        T0 + timedelta(minutes=15),
        T0 + timedelta(minutes=50),
    ]
    for name, doc in docs.items():
        compiled = compile_policy(policy_from_document(doc))
        for lesson in [None, *_lessons()]:
            for perms in _permissions():
                for now in moments:
                    hosts = ["www.instagram.com", "youtube.com", "school.example.nl"]
                    found = evaluate(
                        compiled, [DomainSeen(h) for h in hosts], lesson, perms, now=now
                    )
                    cases.append(
                        {
                            "policy": name,
                            "hosts": hosts,
                            "lesson": lesson_json(lesson) if lesson else None,
                            "permissions": [permission_json(p) for p in perms],
                            "now": iso(now),
                            "findings": [
                                {
                                    "rule": f.rule,
                                    "article": f.article,
                                    "category": f.category,
                                    "family": f.family,
                                    "signal": f.signal,
                                }
                                for f in found
                            ],
                        }
                    )
    return cases


def _scenario(rng: random.Random, n: int) -> dict[str, Any]:
    minutes = rng.choice([5, 12, 30])
    lesson = LessonContext(
        "L1",
        T0,
        T0 + timedelta(minutes=minutes),
        remote=rng.random() < 0.2,
        audience="staff" if rng.random() < 0.1 else "pupil",
    )
    perms: list[Permission] = []
    if rng.random() < 0.4:
        granted = T0 + timedelta(seconds=rng.randrange(0, minutes * 60))
        withdrawn = (
            granted + timedelta(seconds=rng.randrange(30, 600)) if rng.random() < 0.5 else None
        )
        perms.append(Permission("L1", frozenset({"social_media"}), granted, withdrawn))
    sample_seconds = rng.choice([15, 30])
    grace = rng.choice([0, 30, 60])
    started = T0 + timedelta(seconds=rng.choice([0, 0, 7, 90]), milliseconds=rng.choice([0, 400]))
    samples = []
    at = T0 - timedelta(seconds=rng.choice([0, 40]))
    host = rng.choice(SCENARIO_HOSTS)
    while at < lesson.end + timedelta(seconds=30):
        if rng.random() < 0.3:
            host = rng.choice(SCENARIO_HOSTS)
        samples.append((at, host))
        step = rng.choice([1, 5, sample_seconds, sample_seconds, sample_seconds, 44, 45, 46, 120])
        at += timedelta(seconds=step, milliseconds=rng.choice([0, 0, 0, 500]))
    finish_at = lesson.end + timedelta(seconds=rng.choice([-200, 0, 0, 60]))
    return {
        "name": f"random-{n}",
        "policy": rng.choice(["shipped", "shipped", "video"]),
        "lesson": lesson,
        "permissions": perms,
        "sample_seconds": sample_seconds,
        "grace_seconds": grace,
        "started": started,
        "samples": samples,
        "finish": finish_at,
    }


def _fixed() -> list[dict[str, Any]]:
    lesson = LessonContext("L1", T0, T0 + timedelta(minutes=10))
    every30 = [T0 + timedelta(seconds=30 * i) for i in range(20)]

    def seq(pattern: list[str | None]) -> list[tuple[datetime, str | None]]:
        return list(zip(every30, pattern, strict=False))

    base = {
        "policy": "shipped",
        "lesson": lesson,
        "permissions": [],
        "sample_seconds": 30,
        "grace_seconds": 60,
        "started": T0,
        "finish": lesson.end,
    }
    social = frozenset({"social_media"})
    return [
        {**base, "name": "nothing-seen", "samples": seq([None] * 20)},
        {
            **base,
            "name": "short-visit-under-grace",
            "samples": seq(["instagram.com", *[None] * 19]),
        },
        {
            **base,
            "name": "two-episodes",
            "samples": seq(["tiktok.com"] * 4 + [None] * 4 + ["tiktok.com"] * 3 + [None] * 9),
        },
        {
            **base,
            "name": "permission-mid-lesson",
            "permissions": [Permission("L1", social, T0 + timedelta(minutes=3))],
            "samples": seq(["instagram.com"] * 20),
        },
        {
            **base,
            "name": "gap-splits-run",
            "samples": [(T0, "instagram.com"), (T0 + timedelta(seconds=200), "instagram.com")],
        },
        {
            **base,
            "name": "finish-early-cuts",
            "finish": T0 + timedelta(minutes=4),
            "samples": seq(["instagram.com"] * 8),
        },
    ]


def summary_cases(docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(16)
    scenarios = _fixed() + [_scenario(rng, n) for n in range(40)]
    compiled = {name: compile_policy(policy_from_document(doc)) for name, doc in docs.items()}
    cases = []
    for i, sc in enumerate(scenarios):
        lesson: LessonContext = sc["lesson"]
        report_id = f"00000000-0000-4000-8000-{i:012d}"
        state = summary.start(
            report_id,
            lesson.lesson_id,
            lesson.end,
            sc["started"],
            sample_seconds=sc["sample_seconds"],
            grace_seconds=sc["grace_seconds"],
        )
        for at, host in sc["samples"]:
            seen = [DomainSeen(host)] if host else []
            found = evaluate(compiled[sc["policy"]], seen, lesson, sc["permissions"], now=at)
            state = summary.step(state, found, {}, at)
        wire = summary.finish(state, sc["finish"], agent_version=AGENT_VERSION).to_json()
        cases.append(
            {
                "name": sc["name"],
                "policy": sc["policy"],
                "lesson": lesson_json(lesson),
                "permissions": [permission_json(p) for p in sc["permissions"]],
                "report_id": report_id,
                "sample_seconds": sc["sample_seconds"],
                "grace_seconds": sc["grace_seconds"],
                "started": iso(sc["started"]),
                "samples": [[iso(at), host] for at, host in sc["samples"]],
                "finish": iso(sc["finish"]),
                "agent_version": AGENT_VERSION,
                "summary": wire,
            }
        )
    return cases


def _school_days(rng: random.Random) -> list[Lesson]:
    """A week of lessons from Monday 24 Nov 2026, some cancelled, some days without any."""
    lessons = []
    for day in range(7):
        if rng.random() < 0.3:
            continue
        at = T0 + timedelta(days=day, minutes=rng.choice([-30, 0, 60]))
        for n in range(rng.randrange(1, 6)):
            start = at + timedelta(minutes=n * 50 + rng.choice([0, 0, 10, 400]))
            lessons.append(
                Lesson(
                    f"d{day}n{n}", start, start + timedelta(minutes=45), False, rng.random() < 0.1
                )
            )
    return lessons


def plan_cases() -> dict[str, Any]:
    """The agent's contact windows and next contact, backoff, Retry-After and answer classes."""
    rng = random.Random(15)
    zone = "Europe/Amsterdam"
    contact = []
    for _ in range(12):
        lessons = _school_days(rng)
        spread = timedelta(seconds=rng.choice([0, 120, 600]))
        windows = schedule.contact_windows(lessons, spread)
        moments = []
        for _ in range(8):
            moment = T0 + timedelta(minutes=rng.randrange(-3 * 24 * 60, 10 * 24 * 60))
            last = rng.choice([None, moment - timedelta(hours=rng.randrange(1, 30))])
            found = schedule.next_contact(moment, windows, local=ZoneInfo(zone), last_contact=last)
            moments.append(
                {"moment": iso(moment), "last": iso(last) if last else None, "next": iso(found)}
            )
        contact.append(
            {
                "lessons": [
                    {"id": x.id, "start": iso(x.start), "end": iso(x.end), "cancelled": x.cancelled}
                    for x in lessons
                ],
                "spread_seconds": int(spread.total_seconds()),
                "zone": zone,
                "windows": [[iso(a), iso(b)] for a, b in windows],
                "moments": moments,
            }
        )
    delays = [
        {"attempt": a, "rand": r, "seconds": backoff.delay(a, lambda r=r: r)}  # type: ignore[misc]
        for a in (0, 1, 2, 5, 7, 8, 40)
        for r in (0.0, 0.5, 0.999)
    ]
    now = T0
    retry = [
        {"header": h, "now": iso(now), "seconds": backoff.retry_after(h, now)}
        for h in (None, "", "120", " 7 ", "99999999", "Tue, 24 Nov 2026 08:32:00 GMT", "soon")
    ]
    statuses = [
        {"status": c, "outcome": uploader.classify(c)}
        for c in (200, 201, 304, 400, 401, 403, 408, 413, 422, 429, 500, 503)
    ]
    return {"contact": contact, "backoff": delays, "retry_after": retry, "statuses": statuses}


def build() -> dict[str, Any]:
    docs = documents()
    return {
        "comment": "Generated by browser/tools/vectors.py from policies/ and agent/summary.py; "
        "do not edit by hand.",
        "policies": docs,
        "classify": classification_cases(docs),
        "evaluate": evaluate_cases(docs),
        "summaries": summary_cases(docs),
        "plan": [plan_cases()],
    }


def render() -> str:
    """One case per line: small diffs when one answer changes, a file a fifth the size."""
    lines = ["{"]
    data = build()
    for i, (key, value) in enumerate(data.items()):
        comma = "," if i < len(data) - 1 else ""
        if isinstance(value, list):
            items = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in value]
            lines.append(f" {json.dumps(key)}: [\n  " + ",\n  ".join(items) + f"\n ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    return "\n".join(lines) + "\n}\n"


def render_policy() -> str:
    return json.dumps(effective_document(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    files = {OUT: render(), POLICY: render_policy()}
    if "--check" in argv:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text("utf-8") != text]
        for path in stale:
            sys.stderr.write(f"{path} is out of date: run python browser/tools/vectors.py\n")
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
