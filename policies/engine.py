"""The decision: which observations break which rule, for one lesson at one moment.

Pure: no I/O, no clock (``now`` is an argument), no environment. The agent runs it on every
sample; the collector runs it to explain and to re-check. Only catalog matches leave it: a
``Finding`` holds rule, article, category, family and signal type, never a raw name, title or
path, and an observation that matches nothing produces nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from policies.catalog import CatalogIndex
from policies.model import Policy, Rule, Scope
from policies.observations import (
    DeviceInUse,
    DomainSeen,
    Observation,
    ProcessSeen,
    TabSeen,
    WindowSeen,
)

Audience = Literal["pupil", "staff"]
SignalType = Literal["process", "window", "domain", "camera", "microphone", "capture_file"]
# The scopes a device of each audience can be in (``LessonContext.scope_at``): a rule applies to
# a device only if its ``applies_to`` meets these; group-chat rules apply to no device at all.
DEVICE_SCOPES: dict[Audience, frozenset[Scope]] = {
    "pupil": frozenset({"lesson", "remote_lesson"}),
    "staff": frozenset({"staff_work_time"}),
}


@dataclass(frozen=True)
class LessonContext:
    """One scheduled lesson as the device sees it; times are timezone-aware UTC."""

    lesson_id: str
    start: datetime
    end: datetime
    remote: bool = False
    cancelled: bool = False
    audience: Audience = "pupil"

    def scope_at(self, now: datetime) -> Scope | None:
        """The rule scope in force at ``now``, or None outside the lesson (or if cancelled)."""
        if self.cancelled or not self.start <= now < self.end:
            return None
        if self.audience == "staff":
            return "staff_work_time"
        return "remote_lesson" if self.remote else "lesson"


@dataclass(frozen=True)
class Permission:
    """A teacher's or leader's permission ("toestemming") for categories in one lesson."""

    lesson_id: str
    categories: frozenset[str]
    granted_at: datetime
    withdrawn_at: datetime | None = None

    def lifts(self, lesson_id: str, category: str, now: datetime) -> bool:
        return (
            self.lesson_id == lesson_id
            and category in self.categories
            and self.granted_at <= now
            and (self.withdrawn_at is None or now < self.withdrawn_at)
        )


@dataclass(frozen=True, order=True)
class Match:
    """A catalog match: what an observation is, stripped of everything raw."""

    category: str
    family: str
    signal: SignalType


@dataclass(frozen=True, order=True)
class Finding:
    rule: str
    article: str
    category: str
    family: str
    signal: SignalType


@dataclass(frozen=True)
class Compiled:
    """A policy with its catalog index and rule table, built once and reused for every sample."""

    policy: Policy
    index: CatalogIndex
    rules: dict[tuple[Scope, str], tuple[Rule, ...]] = field(default_factory=dict)


def compile_policy(policy: Policy) -> Compiled:
    table: dict[tuple[Scope, str], list[Rule]] = {}
    for rule in policy.rules:
        if not rule.enabled:
            continue
        for scope in rule.applies_to:
            for category in rule.categories:
                table.setdefault((scope, category), []).append(rule)
    return Compiled(
        policy=policy,
        index=CatalogIndex.build(policy.families),
        rules={key: tuple(rules) for key, rules in table.items()},
    )


def classify(compiled: Compiled, seen: Observation) -> Match | None:
    """What one observation is in catalog terms, or None if the catalog does not know it."""
    policy, index = compiled.policy, compiled.index
    if isinstance(seen, ProcessSeen):
        family = index.process(seen)
        return Match(policy.families[family].category, family, "process") if family else None
    if isinstance(seen, WindowSeen):
        if not seen.browser or not policy.settings.window_title_probe:
            return None
        family = index.title(seen.title)
        return Match(policy.families[family].category, family, "window") if family else None
    if isinstance(seen, DomainSeen):
        family = index.domain(seen.host)
        return Match(policy.families[family].category, family, "domain") if family else None
    if isinstance(seen, TabSeen):
        # The extension classified the tab with its copy of the catalog: counted only when
        # this policy knows the family, in that category.
        tab = policy.families.get(seen.family)
        if tab is None or tab.category != seen.category:
            return None
        return Match(tab.category, seen.family, "domain")
    if isinstance(seen, DeviceInUse):
        signal = policy.signal_for(seen.device)
        holder = index.process(seen.holder) if seen.holder else None
        if holder and policy.families[holder].category in policy.settings.device_allow_categories:
            return None
        return Match(signal.category, holder or signal.id, seen.device)
    kind = policy.capture_extensions.get(_extension(seen.path))
    if kind is None:
        return None
    signal = policy.signal_for(kind)
    return Match(signal.category, signal.id, "capture_file")


def _extension(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].casefold() if "." in name.lstrip(".") else ""


def evaluate(
    compiled: Compiled,
    observations: Iterable[Observation],
    lesson: LessonContext | None,
    permissions: Sequence[Permission] = (),
    *,
    now: datetime,
) -> list[Finding]:
    """The findings at ``now``: sorted, each at most once. Empty outside a lesson."""
    scope = lesson.scope_at(now) if lesson else None
    if lesson is None or scope is None:
        return []
    findings: set[Finding] = set()
    for seen in observations:
        match = classify(compiled, seen)
        if match is None:
            continue
        for rule in compiled.rules.get((scope, match.category), ()):
            if rule.permission_lifts and any(
                p.lifts(lesson.lesson_id, match.category, now) for p in permissions
            ):
                continue
            findings.add(Finding(rule.id, rule.article, match.category, match.family, match.signal))
    return sorted(findings)
