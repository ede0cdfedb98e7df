"""Validate a merged policy document into a typed ``Policy``; refuse anything doubtful.

Every check names the file and line where the problem was written. Nothing here reads files:
``load.py`` does that and hands over the texts.
"""

from __future__ import annotations

import re
from typing import Any, cast

from policies.catalog import CatalogIndex, IdentifierConflict
from policies.document import Merged
from policies.errors import PolicyError
from policies.model import (
    CAPTURE_KINDS,
    DISCLOSURES,
    IDENTIFIER_KINDS,
    PLATFORMS,
    SCOPES,
    SEVERITIES,
    AppFamily,
    CaptureKind,
    Category,
    Disclosure,
    Identifier,
    IdentifierKind,
    Policy,
    Rule,
    Scope,
    Settings,
    Severity,
    Signal,
    Text,
)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_EXTENSION = re.compile(r"^\.[a-z0-9]{1,10}$")
_MAX_IDENTIFIER = 200
_RULE_KEYS = {
    "id",
    "article",
    "statement",
    "applies_to",
    "categories",
    "permission_lifts",
    "severity",
    "enabled",
}
_FAMILY_KEYS = {"name", "category", "unverified", *PLATFORMS}
_SIGNAL_KEYS = {"category", "label", "device", "capture_kind"}
# name -> (type, low, high) for numbers; (type, allowed) for the rest.
_SETTINGS: dict[str, tuple[Any, ...]] = {
    "sample_seconds": (int, 1, 3600),
    "grace_seconds": (int, 0, 3600),
    "upload_delay_max_seconds": (int, 0, 3600),
    "window_title_probe": (bool,),
    "browser_reminder": (bool,),
    "disclosure": (str, DISCLOSURES),
    "small_count_threshold": (int, 1, 100),
    "device_allow_categories": (list,),
}


class _Checker:
    def __init__(self, merged: Merged):
        self.merged = merged

    def fail(self, problem: str, kind: str, key: str, needle: str | None = None) -> PolicyError:
        source, line = self.merged.where(kind, key, needle)
        return PolicyError(problem, source=source, line=line)

    def text(self, value: Any, what: str, kind: str, key: str, field: str) -> Text:
        if (
            not isinstance(value, dict)
            or set(value) != {"nl", "en"}
            or not all(isinstance(v, str) and v.strip() for v in value.values())
        ):
            raise self.fail(f"{what} needs a non-empty 'nl' and 'en' text", kind, key, field)
        return Text(nl=value["nl"].strip(), en=value["en"].strip())

    def unknown_keys(self, value: dict[str, Any], allowed: set[str], kind: str, key: str) -> None:
        extra = sorted(set(value) - allowed)
        if extra:
            raise self.fail(
                f"{kind} '{key}': unknown field '{extra[0]}' "
                f"(allowed: {', '.join(sorted(allowed))})",
                kind,
                key,
                extra[0],
            )


def build_policy(merged: Merged) -> Policy:
    """Check every part of the document and return the typed policy, or raise PolicyError."""
    check = _Checker(merged)
    doc = merged.doc
    categories = _categories(check, doc.get("categories", {}))
    signals = _signals(check, doc.get("signals", {}), categories)
    rules = _rules(check, doc.get("rules", []), categories)
    families = _families(check, doc.get("families", {}), categories, signals)
    capture = _capture(check, doc.get("capture", {}))
    settings = _settings(check, doc.get("settings", {}), categories)
    try:
        CatalogIndex.build(families)
    except IdentifierConflict as exc:
        raise check.fail(exc.problem, "family", exc.second, exc.value) from None
    return Policy(
        categories=categories,
        rules=tuple(rules),
        families=families,
        signals=signals,
        capture_extensions=capture,
        settings=settings,
        sources=tuple(merged.sources),
    )


def _categories(check: _Checker, raw: dict[str, Any]) -> dict[str, Category]:
    out: dict[str, Category] = {}
    for cid, value in raw.items():
        if not _ID.match(cid):
            raise check.fail(f"category id '{cid}' must be lower_snake_case", "category", cid)
        if not isinstance(value, dict):
            raise check.fail(f"category '{cid}' must be a table", "category", cid)
        check.unknown_keys(value, {"label"}, "category", cid)
        out[cid] = Category(cid, check.text(value.get("label"), "label", "category", cid, "label"))
    if not out:
        raise check.fail("the policy defines no categories", "category", "")
    return out


def _known_category(
    check: _Checker, value: Any, categories: dict[str, Category], kind: str, key: str
) -> str:
    if not isinstance(value, str) or value not in categories:
        raise check.fail(
            f"unknown category {value!r}; known: {', '.join(sorted(categories))}",
            kind,
            key,
            f'"{value}"',  # quoted, so a rule id that contains the word is not mistaken for it
        )
    return value


def _signals(
    check: _Checker, raw: dict[str, Any], categories: dict[str, Category]
) -> dict[str, Signal]:
    out: dict[str, Signal] = {}
    seen: dict[str, str] = {}
    for sid, value in raw.items():
        if not _ID.match(sid) or not isinstance(value, dict):
            raise check.fail(
                f"signal '{sid}' must be a table with a lower_snake_case id", "signal", sid
            )
        check.unknown_keys(value, _SIGNAL_KEYS, "signal", sid)
        category = _known_category(check, value.get("category"), categories, "signal", sid)
        trigger = value.get("device") or value.get("capture_kind")
        allowed = ("camera", "microphone") if "device" in value else CAPTURE_KINDS
        if ("device" in value) == ("capture_kind" in value) or trigger not in allowed:
            raise check.fail(
                f"signal '{sid}' needs exactly one of device = camera|microphone or "
                "capture_kind = image|video|audio",
                "signal",
                sid,
            )
        if trigger in seen:
            raise check.fail(
                f"'{trigger}' is signalled by both '{seen[trigger]}' and '{sid}'", "signal", sid
            )
        seen[str(trigger)] = sid
        label = check.text(value.get("label"), "label", "signal", sid, "label")
        out[sid] = Signal(sid, category, label, trigger=str(trigger))
    missing = [t for t in ("camera", "microphone", *CAPTURE_KINDS) if t not in seen]
    if missing:
        raise check.fail(f"no signal defined for {', '.join(missing)}", "signal", "")
    return out


def _rules(check: _Checker, raw: list[Any], categories: dict[str, Category]) -> list[Rule]:
    rules: list[Rule] = []
    for value in raw:
        rid = value["id"]
        if not _RULE_ID.match(rid):
            raise check.fail(
                f"rule id '{rid}' must be lower-case letters, digits, '.' and '-'",
                "rule",
                rid,
                "id",
            )
        check.unknown_keys(value, _RULE_KEYS, "rule", rid)
        article = value.get("article")
        if not isinstance(article, str) or not article.strip():
            raise check.fail(f"rule '{rid}' needs its protocol article", "rule", rid, "article")
        scopes = value.get("applies_to")
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
            raise check.fail(
                f"rule '{rid}': applies_to must list one or more of {', '.join(SCOPES)}",
                "rule",
                rid,
                "applies_to",
            )
        cats = value.get("categories", [])
        if not isinstance(cats, list):
            raise check.fail(f"rule '{rid}': categories must be a list", "rule", rid, "categories")
        cats = [_known_category(check, c, categories, "rule", rid) for c in cats]
        if not cats and scopes != ["group_chat"]:
            raise check.fail(f"rule '{rid}' covers no category", "rule", rid, "categories")
        lifts = value.get("permission_lifts")
        if not isinstance(lifts, bool):
            raise check.fail(
                f"rule '{rid}': permission_lifts must be true or false",
                "rule",
                rid,
                "permission_lifts",
            )
        severity = value.get("severity", "violation")
        if severity not in SEVERITIES:
            raise check.fail(
                f"rule '{rid}': severity must be violation or warning", "rule", rid, "severity"
            )
        enabled = value.get("enabled", True)
        if not isinstance(enabled, bool):
            raise check.fail(f"rule '{rid}': enabled must be true or false", "rule", rid, "enabled")
        rules.append(
            Rule(
                id=rid,
                article=article.strip(),
                statement=check.text(value.get("statement"), "statement", "rule", rid, "statement"),
                applies_to=frozenset(cast(list[Scope], scopes)),
                categories=frozenset(cats),
                permission_lifts=lifts,
                severity=cast(Severity, severity),
                enabled=enabled,
            )
        )
    return rules


def _families(
    check: _Checker,
    raw: dict[str, Any],
    categories: dict[str, Category],
    signals: dict[str, Signal],
) -> dict[str, AppFamily]:
    out: dict[str, AppFamily] = {}
    for fid, value in raw.items():
        if not _ID.match(fid):
            raise check.fail(f"app family id '{fid}' must be lower_snake_case", "family", fid)
        if fid in signals:
            raise check.fail(f"app family '{fid}' has the name of a signal", "family", fid)
        if not isinstance(value, dict):
            raise check.fail(f"app family '{fid}' must be a table", "family", fid)
        check.unknown_keys(value, _FAMILY_KEYS, "family", fid)
        name = value.get("name")
        if not isinstance(name, str) or not name.strip():
            raise check.fail(f"app family '{fid}' needs a display name", "family", fid, "name")
        category = _known_category(check, value.get("category"), categories, "family", fid)
        unverified = value.get("unverified", [])
        if not isinstance(unverified, list) or not all(isinstance(u, str) for u in unverified):
            raise check.fail(
                f"app family '{fid}': unverified must be a list of identifiers",
                "family",
                fid,
                "unverified",
            )
        identifiers = list(_identifiers(check, fid, value, set(unverified)))
        if not identifiers:
            raise check.fail(f"app family '{fid}' lists no identifiers", "family", fid)
        listed = {i.value for i in identifiers} | {
            f"{i.platform}.{i.kind}:{i.value}" for i in identifiers
        }
        for u in unverified:
            if u not in listed:
                raise check.fail(
                    f"app family '{fid}': unverified '{u}' is not one of its identifiers",
                    "family",
                    fid,
                    u,
                )
        out[fid] = AppFamily(fid, name.strip(), category, tuple(identifiers))
    return out


def _identifiers(
    check: _Checker, fid: str, value: dict[str, Any], unverified: set[str]
) -> list[Identifier]:
    out: list[Identifier] = []
    for platform in PLATFORMS:
        kinds = value.get(platform)
        if kinds is None:
            continue
        if not isinstance(kinds, dict):
            raise check.fail(
                f"app family '{fid}': {platform} must be a table", "family", fid, platform
            )
        for kind, values in kinds.items():
            if kind not in IDENTIFIER_KINDS:
                raise check.fail(
                    f"app family '{fid}': unknown identifier kind '{platform}.{kind}' "
                    f"(known: {', '.join(IDENTIFIER_KINDS)})",
                    "family",
                    fid,
                    kind,
                )
            if kind == "domain" and platform != "browser":
                raise check.fail(
                    f"app family '{fid}': domains belong under browser", "family", fid, kind
                )
            if not isinstance(values, list):
                raise check.fail(
                    f"app family '{fid}': {platform}.{kind} must be a list", "family", fid, kind
                )
            for v in values:
                if (
                    not isinstance(v, str)
                    or not v.strip()
                    or len(v) > _MAX_IDENTIFIER
                    or any(ord(c) < 32 for c in v)
                ):
                    raise check.fail(
                        f"app family '{fid}': {platform}.{kind} has an empty, over-long or "
                        f"non-printable identifier {v!r}",
                        "family",
                        fid,
                        kind,
                    )
                out.append(
                    Identifier(
                        platform=platform,
                        kind=cast(IdentifierKind, kind),
                        value=v.strip(),
                        # An entry is a bare value, or platform.kind:value where a value
                        # appears under several kinds and only one of them is unverified.
                        unverified=v in unverified or f"{platform}.{kind}:{v}" in unverified,
                    )
                )
    return out


def _capture(check: _Checker, raw: dict[str, Any]) -> dict[str, CaptureKind]:
    out: dict[str, CaptureKind] = {}
    for kind, extensions in raw.items():
        if kind not in CAPTURE_KINDS:
            raise check.fail(
                f"unknown capture kind '{kind}' (known: image, video, audio)", "capture", kind
            )
        for ext in extensions:
            norm = ext.strip().casefold() if isinstance(ext, str) else ext
            if not isinstance(norm, str) or not _EXTENSION.match(norm):
                raise check.fail(
                    f"capture.{kind}: {ext!r} is not an extension like '.png'", "capture", kind
                )
            if out.get(norm, kind) != kind:
                raise check.fail(
                    f"extension '{norm}' is both {out[norm]} and {kind}", "capture", kind
                )
            out[norm] = kind
    return out


def _settings(check: _Checker, raw: dict[str, Any], categories: dict[str, Category]) -> Settings:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = _SETTINGS.get(key)
        if spec is None:
            raise check.fail(
                f"unknown setting '{key}' (known: {', '.join(sorted(_SETTINGS))})",
                "setting",
                key,
                key,
            )
        kind = spec[0]
        if type(value) is not kind:  # bool is an int to isinstance; settings are not
            raise check.fail(f"setting '{key}' must be a {kind.__name__}", "setting", key, key)
        if kind is int and not spec[1] <= value <= spec[2]:
            raise check.fail(
                f"setting '{key}' must be between {spec[1]} and {spec[2]}", "setting", key, key
            )
        if kind is str and value not in spec[1]:
            raise check.fail(
                f"setting '{key}' must be one of {', '.join(spec[1])}", "setting", key, key
            )
        if kind is list:
            value = frozenset(_known_category(check, c, categories, "setting", key) for c in value)
        values[key] = value
    if "disclosure" in values:
        values["disclosure"] = cast(Disclosure, values["disclosure"])
    return Settings(**values)
