"""Reading policy documents: the shipped TOML files, a school's override, and their merge.

Merge order (later wins where it may, and may only add where it must not replace):

1. the shipped files, in order: ``rules.toml`` (categories, signals, rules, settings),
   ``catalog.toml`` (app families), ``capture.toml`` (capture-file extensions);
2. each school override file, in the order given;
3. on the agent only, command-line flags for sampling, grace and upload spread.

An override may change settings, switch shipped rules on or off, and add categories, rules,
app families, identifiers of existing families and capture extensions. It can never replace a
shipped entry: a second rule id, family or category of the same name is an error, not a silent
overwrite. Every entity remembers where it came from, so errors name the file and line.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.errors import PolicyError

SHIPPED_FILES = ("rules.toml", "catalog.toml", "capture.toml")
DOCUMENT_VERSION = 1

_OVERRIDE_KEYS = {
    "version",
    "settings",
    "rules",
    "rule",
    "categories",
    "family",
    "extend",
    "capture",
}
_TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class Origin:
    """Where an entity was written: enough to find its line again for an error message."""

    source: str
    text: str
    header: str
    nth: int = 0

    def line(self, needle: str | None = None) -> int | None:
        return find_line(self.text, self.header, nth=self.nth, needle=needle)


@dataclass
class Merged:
    """A merged policy document plus the origin of each entity in it."""

    doc: dict[str, Any]
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def where(self, kind: str, key: str, needle: str | None = None) -> tuple[str, int | None]:
        origin = self.origins.get((kind, key))
        if origin is None:
            return (self.sources[-1] if self.sources else "<policy>", None)
        return origin.source, origin.line(needle)


def _header_name(line: str) -> str | None:
    """The table name of a ``[table]`` or ``[[array]]`` header line, without quotes or spaces."""
    stripped = line.strip()
    if not stripped.startswith("[") or "]" not in stripped:
        return None
    inner = stripped.lstrip("[").split("]", 1)[0]
    return inner.replace(" ", "").replace('"', "").replace("'", "")


def find_line(text: str, header: str, *, nth: int = 0, needle: str | None = None) -> int | None:
    """1-based line of the ``nth`` table called ``header``, or of ``needle`` inside it.

    Sub-tables (``[family.x.windows]``) count as inside ``family.x``. Falls back to the header's
    line when the needle is not found, and to None when the table is not written as a header.
    """
    lines = text.splitlines()
    hits = [i for i, raw in enumerate(lines) if _header_name(raw) == header]
    if len(hits) <= nth:
        return None
    start = hits[nth]
    if needle is None:
        return start + 1
    for j in range(start + 1, len(lines)):
        name = _header_name(lines[j])
        if name is not None and not name.startswith(header + "."):
            break
        if needle in lines[j].split("#", 1)[0]:
            return j + 1
    return start + 1


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML, turning syntax errors into a PolicyError with the line."""
    import tomllib  # here: the agent builds its policy from the collector's JSON, never TOML

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_ERROR_LINE.search(str(exc))
        problem = _TOML_ERROR_LINE.sub("", str(exc)).strip()
        raise PolicyError(
            f"not valid TOML: {problem}",
            source=source,
            line=int(match.group(1)) if match else None,
        ) from None


def shipped_texts() -> list[tuple[str, str]]:
    # Imported here: importlib.resources brings tempfile, shutil and the compression modules,
    # which the agent's service (it builds its policy from the collector's JSON) never needs.
    from importlib import resources

    data = resources.files("policies") / "data"
    return [(name, (data / name).read_text(encoding="utf-8")) for name in SHIPPED_FILES]


def read_override(path: Path, *, max_bytes: int = 1_000_000) -> tuple[str, str]:
    """Read an override file as (name, text); refuse what is not a small UTF-8 text file."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror or exc}", source=name) from None
    if len(raw) > max_bytes:
        raise PolicyError(f"file is {len(raw)} bytes; at most {max_bytes} allowed", source=name)
    try:
        return name, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError("not UTF-8 text", source=name, line=line) from None


def merge_shipped(texts: list[tuple[str, str]]) -> Merged:
    merged = Merged(
        doc={
            "version": DOCUMENT_VERSION,
            "categories": {},
            "signals": {},
            "rules": [],
            "families": {},
            "capture": {},
            "settings": {},
        }
    )
    for source, text in texts:
        part = parse_toml(text, source)
        merged.sources.append(source)
        _check_version(part, source)
        _add_categories(merged, part, source, text)
        for key, value in _table(part, "signal", source).items():
            _add_unique(merged, "signals", "signal", key, value, source, text, f"signal.{key}")
        _add_rules(merged, part, source, text)
        _add_families(merged, part, source, text)
        _add_capture(merged, part, source)
        _set_settings(merged, part, source, text)
    return merged


def apply_override(merged: Merged, source: str, text: str) -> Merged:
    """Return a new Merged with one school override applied (see the module docstring)."""
    part = parse_toml(text, source)
    unknown = sorted(set(part) - _OVERRIDE_KEYS)
    if unknown:
        key = unknown[0]
        line = find_line(text, key) or _key_line(text, key)
        raise PolicyError(
            f"unknown section '{key}'; allowed: {', '.join(sorted(_OVERRIDE_KEYS))}",
            source=source,
            line=line,
        )
    result = Merged(copy.deepcopy(merged.doc), dict(merged.origins), [*merged.sources, source])
    _check_version(part, source)
    _add_categories(result, part, source, text)
    _add_rules(result, part, source, text)
    _toggle_rules(result, part, source, text)
    _add_families(result, part, source, text)
    _extend_families(result, part, source, text)
    _add_capture(result, part, source)
    _set_settings(result, part, source, text)
    return result


def _key_line(text: str, key: str) -> int | None:
    for i, raw in enumerate(text.splitlines()):
        if raw.strip().startswith(key):
            return i + 1
    return None


def _check_version(part: dict[str, Any], source: str) -> None:
    version = part.get("version", DOCUMENT_VERSION)
    if version != DOCUMENT_VERSION:
        raise PolicyError(
            f"version {version!r} is not supported; this lessonwatch reads version "
            f"{DOCUMENT_VERSION}",
            source=source,
            line=None,
        )


def _table(part: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = part.get(key, {})
    if not isinstance(value, dict):
        raise PolicyError(f"'{key}' must be a table", source=source)
    return value


def _add_unique(
    merged: Merged,
    doc_key: str,
    kind: str,
    key: str,
    value: Any,
    source: str,
    text: str,
    header: str,
) -> None:
    target = merged.doc[doc_key]
    if key in target:
        first, _ = merged.where(kind, key)
        raise PolicyError(
            f"{kind} '{key}' is already defined in {first}; an override may add but not replace",
            source=source,
            line=find_line(text, header),
        )
    target[key] = value
    merged.origins[(kind, key)] = Origin(source, text, header)


def _add_categories(merged: Merged, part: dict[str, Any], source: str, text: str) -> None:
    for key, value in _table(part, "categories", source).items():
        _add_unique(merged, "categories", "category", key, value, source, text, f"categories.{key}")


def _add_families(merged: Merged, part: dict[str, Any], source: str, text: str) -> None:
    for key, value in _table(part, "family", source).items():
        _add_unique(merged, "families", "family", key, value, source, text, f"family.{key}")


def _add_rules(merged: Merged, part: dict[str, Any], source: str, text: str) -> None:
    rules = part.get("rule", [])
    if not isinstance(rules, list):
        raise PolicyError("'rule' must be an array of tables ([[rule]])", source=source)
    for nth, rule in enumerate(rules):
        origin = Origin(source, text, "rule", nth)
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
            raise PolicyError(
                "every [[rule]] needs a string 'id'", source=source, line=origin.line()
            )
        rule_id = rule["id"]
        if any(existing["id"] == rule_id for existing in merged.doc["rules"]):
            first, first_line = merged.where("rule", rule_id, "id")
            at = f"{first}:{first_line}" if first_line else first
            raise PolicyError(
                f"duplicate rule id '{rule_id}' (first defined at {at})",
                source=source,
                line=origin.line("id"),
            )
        merged.doc["rules"].append(dict(rule))
        merged.origins[("rule", rule_id)] = origin


def _toggle_rules(merged: Merged, part: dict[str, Any], source: str, text: str) -> None:
    for rule_id, change in _table(part, "rules", source).items():
        header = f"rules.{rule_id}"
        line = find_line(text, header)
        target = next((r for r in merged.doc["rules"] if r["id"] == rule_id), None)
        if target is None:
            raise PolicyError(f"no rule '{rule_id}' to switch", source=source, line=line)
        if not isinstance(change, dict) or set(change) != {"enabled"}:
            raise PolicyError(
                f"[rules.{rule_id}] may only set 'enabled'; add new rules with [[rule]]",
                source=source,
                line=line,
            )
        if not isinstance(change["enabled"], bool):
            raise PolicyError("'enabled' must be true or false", source=source, line=line)
        target["enabled"] = change["enabled"]


def _extend_families(merged: Merged, part: dict[str, Any], source: str, text: str) -> None:
    for family_id, extra in _table(part, "extend", source).items():
        header = f"extend.{family_id}"
        family = merged.doc["families"].get(family_id)
        if family is None:
            raise PolicyError(
                f"no app family '{family_id}' to extend",
                source=source,
                line=find_line(text, header),
            )
        if not isinstance(extra, dict):
            raise PolicyError(f"[{header}] must be a table", source=source)
        for platform, kinds in extra.items():
            if not isinstance(kinds, dict):
                raise PolicyError(
                    f"[{header}] '{platform}' must be a table of identifier lists",
                    source=source,
                    line=find_line(text, header, needle=platform),
                )
            slot = family.setdefault(platform, {})
            if not isinstance(slot, dict):
                raise PolicyError(f"cannot extend '{platform}' of '{family_id}'", source=source)
            for kind, values in kinds.items():
                if not isinstance(values, list):
                    raise PolicyError(
                        f"{platform}.{kind} must be a list of strings",
                        source=source,
                        line=find_line(text, header, needle=kind),
                    )
                slot[kind] = [*slot.get(kind, []), *values]
        merged.origins[("extend", family_id)] = Origin(source, text, header)


def _add_capture(merged: Merged, part: dict[str, Any], source: str) -> None:
    for kind, extensions in _table(part, "capture", source).items():
        if not isinstance(extensions, list):
            raise PolicyError(f"capture.{kind} must be a list of extensions", source=source)
        merged.doc["capture"][kind] = [*merged.doc["capture"].get(kind, []), *extensions]


def _set_settings(merged: Merged, part: dict[str, Any], source: str, text: str) -> None:
    for key, value in _table(part, "settings", source).items():
        merged.doc["settings"][key] = value
        merged.origins[("setting", key)] = Origin(source, text, "settings")
