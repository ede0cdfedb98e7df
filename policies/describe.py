"""A policy in words, and the differences between two policies in words.

``describe`` is the one description of an effective policy as plain data: each rule with what it
checks, when and for whom; each category with its apps per platform; each setting with the value
in force. The collector's policy page renders it; ``/privacy`` and ``explain`` can render the
same data. ``differences`` compares two policies (the one in force and the one an override would
give) the same way, so an admin reads what would change before anything is saved.

Both are pure: a ``Policy`` in, dictionaries of strings out, texts through the policies catalog
(``policies.i18n``).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import fields
from typing import Any

from policies.explain import contact_text
from policies.i18n import N_, Translations, translator
from policies.model import PLATFORMS, Lang, Policy, Rule, Settings

# Where a rule applies (``model.Scope``), as who is checked and when.
SCOPES = {
    "lesson": N_("during on-site lessons of their group"),
    "remote_lesson": N_("during remote lessons of their group"),
    "staff_work_time": N_("during lessons they teach"),
    "group_chat": N_("in the register, not on devices"),
}
AUDIENCES = {
    "lesson": N_("pupils' devices"),
    "remote_lesson": N_("pupils' devices"),
    "staff_work_time": N_("staff devices"),
    "group_chat": N_("class group chats"),
}
CAPTURE_KINDS = {"image": N_("an image"), "video": N_("a video"), "audio": N_("a sound recording")}
PLATFORM_NAMES = {"windows": "Windows", "macos": "macOS", "linux": "Linux", "browser": "Browser"}
SETTINGS = {
    "sample_seconds": N_("How often a device looks during a lesson"),
    "grace_seconds": N_("Shortest episode that counts"),
    "upload_delay_max_seconds": N_("Upload spread after the lesson"),
    "window_title_probe": N_("Browser window titles"),
    "browser_reminder": N_("Reminder in the browser extension"),
    "disclosure": N_("What leaders may see"),
    "small_count_threshold": N_("Counts hidden below"),
    "device_allow_categories": N_("Camera and microphone allowed for"),
}


def setting_value(policy: Policy, key: str, lang: Lang) -> str:
    """One setting's value in force, in words."""
    tr = translator(lang)
    value = getattr(policy.settings, key)
    # A sentence per setting, not "{n} seconds": the Dutch "seconden" would read as English.
    if key == "sample_seconds":
        return tr.ngettext("every second", "every {n} seconds", value).format(n=value)
    if key == "grace_seconds":
        text = tr.ngettext(
            "shorter than {n} second does not count",
            "shorter than {n} seconds does not count",
            value,
        )
        return text.format(n=value)
    if key == "upload_delay_max_seconds":
        text = tr.ngettext(
            "sent at a random moment within {n} second after the lesson",
            "sent at a random moment within {n} seconds after the lesson",
            value,
        )
        return text.format(n=value)
    if key == "window_title_probe":
        if value:
            return tr.gettext("looked at (classified on the device, never kept)")
        return tr.gettext("off")
    if key == "browser_reminder":
        if value:
            return tr.gettext("shown to the pupil when a finding starts; nothing more is sent")
        return tr.gettext("off")
    if key == "disclosure":
        if value == "aggregate":
            return tr.gettext("totals only")
        return tr.gettext("pseudonymous device labels and totals")
    if key == "small_count_threshold":
        return tr.ngettext("{n} device", "{n} devices", value).format(n=value)
    labels = [policy.categories[c].label(lang) if c in policy.categories else c for c in value]
    return ", ".join(sorted(labels)) or tr.gettext("no category")


def _rule(policy: Policy, rule: Rule, tr: Translations, lang: Lang) -> dict[str, Any]:
    group_chat = rule.applies_to == frozenset({"group_chat"})
    if group_chat:
        permission = tr.gettext("Checked in the register; no permission applies.")
    elif rule.permission_lifts:
        permission = tr.gettext("A permission for a lesson lifts it in that lesson.")
    else:
        permission = tr.gettext("No permission can lift it.")
    return {
        "id": rule.id,
        "article": rule.article,
        "statement": rule.statement(lang),
        "enabled": rule.enabled,
        "severity": tr.gettext("violation")
        if rule.severity == "violation"
        else tr.gettext("warning"),
        "audience": sorted({tr.gettext(AUDIENCES[s]) for s in rule.applies_to}),
        "when": [tr.gettext(SCOPES[s]) for s in sorted(rule.applies_to)],
        "categories": sorted(policy.categories[c].label(lang) for c in rule.categories),
        "permission": permission,
    }


def describe(policy: Policy, lang: Lang) -> dict[str, Any]:
    """The effective policy as a page shows it: rules, categories with apps, settings."""
    tr = translator(lang)
    rules = [_rule(policy, r, tr, lang) for r in policy.rules]
    categories = []
    for cid, category in policy.categories.items():
        families = [f for f in policy.families.values() if f.category == cid]
        platforms = []
        for platform in PLATFORMS:
            names = sorted(
                (f.name for f in families if any(i.platform == platform for i in f.identifiers)),
                key=str.casefold,
            )
            if names:
                platforms.append({"platform": PLATFORM_NAMES[platform], "apps": names})
        categories.append(
            {
                "id": cid,
                "label": category.label(lang),
                "rules": [r.article for r in policy.rules if r.enabled and cid in r.categories],
                "platforms": platforms,
                "signals": sorted(
                    s.label(lang) for s in policy.signals.values() if s.category == cid
                ),
            }
        )
    settings = [
        {"key": key, "label": tr.gettext(label), "value": setting_value(policy, key, lang)}
        for key, label in SETTINGS.items()
    ]
    settings.append(
        {
            "key": "contact",
            "label": tr.gettext("Contact with the server"),
            "value": contact_text(lang),
        }
    )
    return {"rules": rules, "categories": categories, "settings": settings}


def _change(kind: str, text: str) -> dict[str, str]:
    return {"kind": kind, "text": text}


def differences(before: Policy, after: Policy, lang: Lang) -> list[dict[str, str]]:
    """What changes from ``before`` to ``after``, one sentence each: ``kind`` is "added",
    "removed" or "changed". Empty when the two policies behave the same."""
    tr = translator(lang)
    out: list[dict[str, str]] = []
    for f in fields(Settings):
        old, new = (setting_value(p, f.name, lang) for p in (before, after))
        if getattr(before.settings, f.name) != getattr(after.settings, f.name):
            text = tr.gettext("{setting}: {old} becomes {new}").format(
                setting=tr.gettext(SETTINGS[f.name]), old=old, new=new
            )
            out.append(_change("changed", text))
    old_rules = {r.id: r for r in before.rules}
    new_rules = {r.id: r for r in after.rules}
    for rid, rule in new_rules.items():
        name = f"{rule.article} ({rid})"
        if rid not in old_rules:
            text = tr.gettext("New rule {rule}: {statement}").format(
                rule=name, statement=rule.statement(lang)
            )
            out.append(_change("added", text))
        elif old_rules[rid].enabled != rule.enabled:
            if rule.enabled:
                text = tr.gettext("Rule {rule} is switched on").format(rule=name)
            else:
                text = tr.gettext("Rule {rule} is switched off").format(rule=name)
            out.append(_change("changed", text))
    for rid in sorted(old_rules.keys() - new_rules.keys()):
        text = tr.gettext("Rule {rule} is no longer there").format(
            rule=f"{old_rules[rid].article} ({rid})"
        )
        out.append(_change("removed", text))
    for cid in sorted(after.categories.keys() - before.categories.keys()):
        text = tr.gettext("New category {category}").format(
            category=after.categories[cid].label(lang)
        )
        out.append(_change("added", text))
    for cid in sorted(before.categories.keys() - after.categories.keys()):
        text = tr.gettext("Category {category} is no longer there").format(
            category=before.categories[cid].label(lang)
        )
        out.append(_change("removed", text))
    out += _family_differences(before, after, tr, lang)
    for ext in sorted(after.capture_extensions.keys() - before.capture_extensions.keys()):
        text = tr.gettext("A new {ext} file counts as {kind}").format(
            ext=ext, kind=tr.gettext(CAPTURE_KINDS[after.capture_extensions[ext]])
        )
        out.append(_change("added", text))
    for ext in sorted(before.capture_extensions.keys() - after.capture_extensions.keys()):
        text = tr.gettext("A new {ext} file no longer counts").format(ext=ext)
        out.append(_change("removed", text))
    return out


def _identifiers(ids: AbstractSet[tuple[str, str, str]]) -> str:
    return ", ".join(f"{PLATFORM_NAMES[p]} {kind} {value}" for p, kind, value in sorted(ids))


def _family_differences(
    before: Policy, after: Policy, tr: Translations, lang: Lang
) -> list[dict[str, str]]:
    out = []
    for fid in sorted(after.families.keys() - before.families.keys()):
        family = after.families[fid]
        platforms = sorted({PLATFORM_NAMES[i.platform] for i in family.identifiers})
        text = tr.gettext("New app {app} in {category} ({platforms})").format(
            app=family.name,
            category=after.categories[family.category].label(lang),
            platforms=", ".join(platforms),
        )
        out.append(_change("added", text))
    for fid in sorted(before.families.keys() - after.families.keys()):
        text = tr.gettext("App {app} is no longer recognised").format(app=before.families[fid].name)
        out.append(_change("removed", text))
    for fid in sorted(before.families.keys() & after.families.keys()):
        old = {(i.platform, i.kind, i.value) for i in before.families[fid].identifiers}
        new = {(i.platform, i.kind, i.value) for i in after.families[fid].identifiers}
        name = after.families[fid].name
        if new - old:
            text = tr.gettext("{app} is also recognised by: {ids}")
            out.append(_change("added", text.format(app=name, ids=_identifiers(new - old))))
        if old - new:
            text = tr.gettext("{app} is no longer recognised by: {ids}")
            out.append(_change("removed", text.format(app=name, ids=_identifiers(old - new))))
    return out
