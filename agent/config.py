"""The config the collector sends (lessons, permissions, effective policy), and its disk cache.

``parse_config`` is pure and strict: a config that does not follow docs/api.md is refused as a
whole, and the agent keeps the last good one. The cache is the exact JSON body plus its ETag, so
an offline agent runs on what the collector last said.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from policies import (
    Compiled,
    LessonContext,
    Permission,
    PolicyError,
    compile_policy,
    policy_from_document,
)
from policies.wire import MAX_LESSON_SECONDS, WireError, parse_time

log = logging.getLogger(__name__)

MAX_LESSONS = 5000
_LESSON_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as policies.wire accepts in a summary
MAX_CACHE_BYTES = 8 * 1024 * 1024


class ConfigError(ValueError):
    """A config that does not follow the contract; the agent keeps its last good one."""


@dataclass(frozen=True)
class Lesson:
    id: str
    start: datetime
    end: datetime
    remote: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that win over the policy (for tests and IT trials)."""

    sample_seconds: int | None = None
    grace_seconds: int | None = None
    upload_delay_max_seconds: int | None = None


@dataclass(frozen=True)
class AgentConfig:
    device_id: str
    group: str
    audience: str
    lessons: tuple[Lesson, ...]
    permissions: tuple[Permission, ...]
    compiled: Compiled
    policy_digest: str
    poll_in_lesson: int
    poll_idle: int
    etag: str | None
    body: dict[str, Any]
    # The school's IANA zone (``school.timezone``, docs/api.md): the school day's hours and
    # weekdays are reckoned in it. None when the collector names none.
    timezone: str | None = None

    def context(self, lesson: Lesson) -> LessonContext:
        return LessonContext(
            lesson_id=lesson.id,
            start=lesson.start,
            end=lesson.end,
            remote=lesson.remote,
            cancelled=lesson.cancelled,
            audience="staff" if self.audience == "staff" else "pupil",
        )

    def lesson(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str = "config") -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ConfigError(f"{where}: missing '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ConfigError(f"{where}.{key} has the wrong type")
    return value


def _time(value: Any, where: str) -> datetime:
    try:
        return parse_time(value, where)
    except WireError as exc:
        raise ConfigError(str(exc)) from None


def _lesson(obj: Any, i: int) -> Lesson:
    where = f"lessons[{i}]"
    start, end = (
        _time(_get(obj, "start", str, where), where),
        _time(_get(obj, "end", str, where), where),
    )
    if end <= start:
        raise ConfigError(f"{where}: end must follow start")
    if (end - start).total_seconds() > MAX_LESSON_SECONDS:
        raise ConfigError(f"{where}: a lesson lasts at most 12 hours")
    lesson_id = _get(obj, "id", str, where)
    if not _LESSON_ID.match(lesson_id):
        raise ConfigError(f"{where}.id is not a valid lesson id")
    return Lesson(
        id=lesson_id,
        start=start,
        end=end,
        remote=bool(obj.get("remote", False)),
        cancelled=bool(obj.get("cancelled", False)),
    )


def _permission(obj: Any, i: int) -> Permission:
    where = f"permissions[{i}]"
    withdrawn = obj.get("withdrawn_at") if isinstance(obj, dict) else None
    categories = _get(obj, "categories", list, where)
    return Permission(
        lesson_id=_get(obj, "lesson_id", str, where),
        categories=frozenset(str(c) for c in categories),
        granted_at=_time(_get(obj, "granted_at", str, where), where),
        withdrawn_at=_time(withdrawn, where) if withdrawn is not None else None,
    )


def apply_overrides(compiled: Compiled, overrides: Overrides) -> Compiled:
    changes = {k: v for k, v in dataclasses.asdict(overrides).items() if v is not None}
    if not changes:
        return compiled
    settings = dataclasses.replace(compiled.policy.settings, **changes)
    return compile_policy(dataclasses.replace(compiled.policy, settings=settings))


def parse_config(body: Any, etag: str | None, overrides: Overrides = Overrides()) -> AgentConfig:
    """Check a config body from the collector; ConfigError with the reason if it is refused."""
    lessons_raw = _get(body, "lessons", list)
    if len(lessons_raw) > MAX_LESSONS:
        raise ConfigError(f"config lists {len(lessons_raw)} lessons; at most {MAX_LESSONS}")
    try:
        policy = policy_from_document(_get(body, "policy", dict), source="collector config")
    except PolicyError as exc:
        raise ConfigError(f"policy refused: {exc}") from None
    poll = _get(body, "poll_seconds", dict)
    poll_in, poll_idle = (
        _get(poll, "in_lesson", int, "poll_seconds"),
        _get(poll, "idle", int, "poll_seconds"),
    )
    if not (1 <= poll_in <= 3600 and 1 <= poll_idle <= 86400):
        raise ConfigError("poll_seconds out of range")
    audience = _get(body, "audience", str)
    if audience not in ("pupil", "staff"):
        raise ConfigError("audience must be pupil or staff")
    return AgentConfig(
        device_id=_get(body, "device_id", str),
        group=_get(body, "group", str),
        audience=audience,
        lessons=tuple(
            sorted((_lesson(x, i) for i, x in enumerate(lessons_raw)), key=lambda x: x.start)
        ),
        permissions=tuple(_permission(x, i) for i, x in enumerate(_get(body, "permissions", list))),
        compiled=apply_overrides(compile_policy(policy), overrides),
        policy_digest=_get(body, "policy_digest", str),
        poll_in_lesson=poll_in,
        poll_idle=poll_idle,
        etag=etag,
        body=body,
        timezone=_timezone(body),
    )


def _timezone(body: dict[str, Any]) -> str | None:
    school = body.get("school")
    name = school.get("timezone") if isinstance(school, dict) else None
    return name if isinstance(name, str) and 0 < len(name) <= 64 else None


def move_aside(path: Path, now: float | None = None) -> Path:
    """Rename a damaged file with a timestamp suffix, keeping it for IT; returns the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now if now is not None else time.time()))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def save_cache(path: Path, body: dict[str, Any], etag: str | None) -> None:
    from agent.paths import write_private

    write_private(path, json.dumps({"etag": etag, "body": body}).encode())


def load_cache(path: Path, overrides: Overrides = Overrides()) -> AgentConfig | None:
    """The cached config, or None. A damaged cache is moved aside with a log line."""
    try:
        if path.stat().st_size > MAX_CACHE_BYTES:
            raise ConfigError(f"cache is larger than {MAX_CACHE_BYTES} bytes")
        data = json.loads(path.read_bytes())
        return parse_config(_get(data, "body", dict, "cache"), data.get("etag"), overrides)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        moved = move_aside(path)
        log.error(
            "config cache %s is damaged (%s); moved aside to %s, fetching a new one",
            path,
            str(exc)[:200],
            moved.name,
        )
        return None
