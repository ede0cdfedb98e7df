"""The protocol as data and the pure engine that decides what is a finding.

Used by both the agent (on every sample) and the collector (to distribute, explain and
re-check). Standard library only.
"""

from policies.catalog import CatalogIndex
from policies.engine import (
    Compiled,
    Finding,
    LessonContext,
    Match,
    Permission,
    classify,
    compile_policy,
    evaluate,
)
from policies.errors import PolicyError
from policies.groupchat import ChatFinding, check_chat, load_platforms, validate_chat
from policies.load import (
    document_digest,
    effective_document,
    load_policy,
    merged_from_texts,
    policy_from_document,
)
from policies.model import Policy, Rule, Settings
from policies.observations import (
    CaptureFileSeen,
    DeviceInUse,
    DomainSeen,
    Observation,
    ProcessSeen,
    WindowSeen,
)

__all__ = [
    "CaptureFileSeen",
    "CatalogIndex",
    "ChatFinding",
    "Compiled",
    "DeviceInUse",
    "DomainSeen",
    "Finding",
    "LessonContext",
    "Match",
    "Observation",
    "Permission",
    "Policy",
    "PolicyError",
    "ProcessSeen",
    "Rule",
    "Settings",
    "WindowSeen",
    "check_chat",
    "classify",
    "compile_policy",
    "document_digest",
    "effective_document",
    "evaluate",
    "load_platforms",
    "load_policy",
    "merged_from_texts",
    "policy_from_document",
    "validate_chat",
]
