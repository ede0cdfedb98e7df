"""The effective policy of a school (shipped policy plus its override), built once per text.

This is the one cache of it: the intake checks summaries against ``for_school``, permissions,
reports and the group-chat register read ``policy_of``. Caching by the override text is safe
across processes: the result is a pure function of it and of the shipped files, so every process
computes the same document and digest.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import policies
from policies.model import Policy
from policies.wire import LessonSummary, check_against_policy
from service.models import School


@dataclass(frozen=True)
class EffectivePolicy:
    document: dict[str, Any]
    digest: str
    policy: Policy
    rules: Mapping[str, tuple[str, frozenset[str]]]
    families: set[str]

    def check(self, summary: LessonSummary) -> None:
        """Raise WireError when a finding is not a match of this policy."""
        check_against_policy(summary, self.rules, self.families)


@functools.lru_cache(maxsize=64)
def _build(school_id: int, override: str | None) -> EffectivePolicy:
    overrides = [(f"school:{school_id}", override)] if override else []
    document = policies.effective_document(overrides)
    policy = policies.policy_from_document(document)
    return EffectivePolicy(
        document=document,
        digest=policies.document_digest(document),
        policy=policy,
        rules={r.id: (r.article, r.categories) for r in policy.rules},
        families=set(policy.families) | set(policy.signals),
    )


class PolicySource(Protocol):
    """What the policy is built from: a ``School`` row, or the intake's narrower read of one."""

    @property
    def id(self) -> int: ...
    @property
    def policy_override(self) -> str | None: ...


def for_school(school: PolicySource) -> EffectivePolicy:
    """The school's effective policy; PolicyError if its stored override does not validate."""
    return _build(school.id, school.policy_override)


def policy_of(school: School) -> Policy:
    """The school's effective policy as the engine's model: categories, rules, families."""
    return for_school(school).policy


def proposed(school: School, override: str) -> EffectivePolicy:
    """The effective policy the school would have with this override text (blank: none), for a
    preview before it is saved; ``PolicyError`` when the text does not validate."""
    return _build(school.id, override.replace("\r\n", "\n") if override.strip() else None)
