"""Load the effective policy: shipped files, then school overrides (see ``document.py``).

The only module in ``policies`` that reads files; everything it returns is plain data.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from policies.build import build_policy
from policies.document import (
    DOCUMENT_VERSION,
    Merged,
    apply_override,
    merge_shipped,
    read_override,
    shipped_texts,
)
from policies.errors import PolicyError
from policies.model import Policy

_DOC_TYPES: dict[str, type] = {
    "version": int,
    "categories": dict,
    "signals": dict,
    "rules": list,
    "families": dict,
    "capture": dict,
    "settings": dict,
}


def merged_from_texts(overrides: Sequence[tuple[str, str]] = ()) -> Merged:
    """The shipped policy with each ``(name, text)`` override applied in order."""
    merged = merge_shipped(shipped_texts())
    for name, text in overrides:
        merged = apply_override(merged, name, text)
    return merged


def load_policy(override_files: Sequence[Path] = ()) -> Policy:
    """The effective policy from the shipped files and override files; PolicyError if broken."""
    return build_policy(merged_from_texts([read_override(p) for p in override_files]))


def effective_document(overrides: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The validated, merged policy as a JSON-ready document: what the collector sends agents."""
    merged = merged_from_texts(overrides)
    build_policy(merged)  # refuse to hand out a document that does not validate
    return copy.deepcopy(merged.doc)


def document_digest(doc: dict[str, Any]) -> str:
    import hashlib  # here: the agent's service builds policies but never digests them

    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def policy_from_document(doc: Any, *, source: str = "<policy document>") -> Policy:
    """Rebuild a policy from a document received over the wire (or from a cache file)."""
    if not isinstance(doc, dict):
        raise PolicyError("a policy document must be a JSON object", source=source)
    for key, kind in _DOC_TYPES.items():
        if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
            raise PolicyError(f"'{key}' is missing or not a {kind.__name__}", source=source)
    extra = sorted(set(doc) - set(_DOC_TYPES))
    if extra:
        raise PolicyError(f"unknown key '{extra[0]}'", source=source)
    if doc["version"] != DOCUMENT_VERSION:
        raise PolicyError(f"document version {doc['version']} is not supported", source=source)
    ids: set[str] = set()
    for rule in doc["rules"]:
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
            raise PolicyError("every rule needs a string 'id'", source=source)
        if rule["id"] in ids:
            raise PolicyError(f"duplicate rule id '{rule['id']}'", source=source)
        ids.add(rule["id"])
    return build_policy(Merged(copy.deepcopy(doc), {}, [source]))
