"""The protocol as data and the pure engine that decides what is a finding.

Used by both the agent (on every sample) and the collector (to distribute, explain and
re-check). Standard library only.

The group-chat checks and the policy loader (TOML files, overrides) are imported when first
named: the agent's process never needs the group-chat code, and keeping it out saves memory on
every laptop (docs/performance.md).
"""

from typing import TYPE_CHECKING, Any

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
from policies.model import Policy, Rule, Settings
from policies.observations import (
    CaptureFileSeen,
    DeviceInUse,
    DomainSeen,
    Observation,
    ProcessSeen,
    TabSeen,
    WindowSeen,
)

if TYPE_CHECKING:
    from policies.groupchat import ChatFinding, check_chat, load_platforms, validate_chat
    from policies.load import (
        document_digest,
        effective_document,
        load_policy,
        merged_from_texts,
        policy_from_document,
    )

_LAZY = {
    "ChatFinding": "policies.groupchat",
    "check_chat": "policies.groupchat",
    "load_platforms": "policies.groupchat",
    "validate_chat": "policies.groupchat",
    "document_digest": "policies.load",
    "effective_document": "policies.load",
    "load_policy": "policies.load",
    "merged_from_texts": "policies.load",
    "policy_from_document": "policies.load",
}


def __getattr__(name: str) -> Any:
    """PEP 562: the names above, imported from their module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'policies' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "TabSeen",
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
