"""What lessonwatch checks, in plain Dutch or English, built from the active policy.

``explain_data`` builds the content once; ``render_text`` prints it for a terminal, and the
collector's public policy page renders the same data as HTML.
"""

from __future__ import annotations

from typing import Any

from policies.contact import CONTACT_LEAD, CONTACT_TAIL, SCHOOL_HOURS
from policies.engine import DEVICE_SCOPES, Audience
from policies.i18n import N_, translator
from policies.model import Lang, Policy, Rule

# The headings, by the keys the collector's policy page asks for them with (``t``); the terminal
# text below uses the same msgids, so the page and ``explain`` never drift apart.
HEADINGS: dict[str, str] = {
    "rules": N_("The protocol's rules"),
    "off": N_("Switched off at this school"),
    "group_chat": N_("Checked in the register of class group chats, not on your device."),
    "permission": N_(
        "The teacher or school leadership can give permission for this for one lesson."
    ),
    "no_permission": N_("No permission can be given for this."),
    "checks": N_("What is looked at on the device"),
    "apps": N_("Which programs are running, compared with this list of apps"),
    "timing": N_("How often"),
    "leaves": N_("What leaves the device"),
    "contact": N_("When the device talks to the school's server"),
    "browser": N_("The browser extension"),
    "browser_checked": N_("What is checked"),
    "browser_never": N_("What is never looked at"),
}

# How often the extension looks during a lesson: Chrome's shortest alarm period.
BROWSER_SECONDS = 30


def t(key: str, lang: Lang) -> str:
    """The heading ``key`` of ``HEADINGS`` in ``lang``."""
    return translator(lang).gettext(HEADINGS[key])


def device_rules(policy: Policy, audience: Audience | None) -> tuple[Rule, ...]:
    """The rules that concern a device of ``audience`` (all of them for ``None``, the public
    page): those it can break, and the group-chat rules, which are about its class's chats and
    are checked in the register, never on a device. A pupil's laptop does not list staff rules."""
    if audience is None:
        return policy.rules
    scopes = DEVICE_SCOPES[audience] | {"group_chat"}
    return tuple(rule for rule in policy.rules if rule.applies_to & scopes)


def explain_data(policy: Policy, lang: Lang, audience: Audience | None = None) -> dict[str, Any]:
    """Everything a pupil may want to know about the active policy, as plain data; with an
    ``audience``, only the rules (and so the apps) that concern a device of that audience."""
    _ = translator(lang).gettext
    settings = policy.settings
    rules = []
    shown = device_rules(policy, audience)
    for rule in shown:
        group_chat = rule.applies_to == frozenset({"group_chat"})
        rules.append(
            {
                "id": rule.id,
                "article": rule.article,
                "statement": rule.statement(lang),
                "enabled": rule.enabled,
                "categories": sorted(policy.categories[c].label(lang) for c in rule.categories),
                "permission": None if group_chat else rule.permission_lifts,
                "group_chat": group_chat,
            }
        )
    watched = {c for r in shown if r.enabled for c in r.categories}
    apps: dict[str, list[str]] = {}
    for family in policy.families.values():
        if family.category in watched:
            label = policy.categories[family.category].label(lang)
            apps.setdefault(label, []).append(family.name)
    if settings.window_title_probe:
        titles = _(
            "The title of a browser window in the foreground, only to tell whether it is one "
            "of the apps above. The title itself is not kept."
        )
    else:
        titles = _("Window titles are not looked at.")
    return {
        "lang": lang,
        "title": _("What lessonwatch checks"),
        "when": _(
            "Only during your class's scheduled lessons. Outside lessons, in breaks, in "
            "holidays and in cancelled lessons lessonwatch checks nothing."
        ),
        "rules": rules,
        "apps": {label: sorted(names, key=str.casefold) for label, names in sorted(apps.items())},
        "signals": {
            "camera_microphone": _(
                "Whether the camera or microphone is in use (not what they see or hear). Use "
                "by the school's own video-call tools does not count."
            ),
            "capture_files": _(
                "Whether new photos, videos or sound files appear in the folders for "
                "screenshots, screen recordings, camera and sound recordings. Only the kind of "
                "file counts, never its name or content."
            ),
            "window_titles": titles,
        },
        "leaves_device": _(
            "After each lesson one summary: per rule the category and app family (such as "
            "'social media: Telegram'), how many seconds and how often, and how long checking "
            "ran. Never screenshots, keystrokes, web addresses, window titles, file names or "
            "messages."
        ),
        "contact": contact_text(lang),
        "browser": browser_text(lang),
        "timing": timing_text(
            settings.sample_seconds, settings.grace_seconds, settings.upload_delay_max_seconds, lang
        ),
    }


def timing_text(sample: int, grace: int, upload: int, lang: Lang) -> str:
    """How often the device looks, what is too short to count, and when the summary leaves."""
    # One sentence per number: ngettext chooses a form for one count, so each count gets its own.
    ngettext = translator(lang).ngettext
    return " ".join(
        (
            ngettext(
                "Every second during a lesson.", "Every {n} seconds during a lesson.", sample
            ).format(n=sample),
            ngettext(
                "Less than {n} second does not count.",
                "Less than {n} seconds does not count.",
                grace,
            ).format(n=grace),
            ngettext(
                "The summary is sent within {n} second after the lesson ends.",
                "The summary is sent within {n} seconds after the lesson ends.",
                upload,
            ).format(n=upload),
        )
    )


def browser_text(lang: Lang) -> dict[str, str]:
    """What the browser extension checks and never reads: the sentences of its popup, so the
    popup, ``explain`` and the collector's ``/privacy`` say the same (docs/browser.md)."""
    tr = translator(lang)
    return {
        "where": tr.gettext(
            "Where the school installed the lessonwatch extension in Chrome or Edge (on a "
            "Chromebook, or beside the agent on a laptop):"
        ),
        "checked": tr.ngettext(
            "Only during a timetabled lesson: the host name of the active tab (for example "
            "instagram.com), when you switch tab or window and every {n} second. That name is "
            "compared on this device with the protocol's list of apps; only a match counts.",
            "Only during a timetabled lesson: the host name of the active tab (for example "
            "instagram.com), when you switch tab or window and every {n} seconds. That name is "
            "compared on this device with the protocol's list of apps; only a match counts.",
            BROWSER_SECONDS,
        ).format(n=BROWSER_SECONDS),
        "never": tr.gettext(
            "Nothing outside lessons. Never the rest of the address, searches, page titles, page "
            "content, your history, other tabs or what you type. No address or host name goes "
            "to the school: only, per lesson, how many minutes an app from the protocol was open."
        ),
        "paired": tr.gettext(
            "On a laptop with the lessonwatch agent, the extension passes only the app it "
            "matched to the agent, which counts it in its one summary of the lesson: an app "
            "seen by the extension and by the agent counts once."
        ),
    }


def contact_text(lang: Lang) -> str:
    """When the device talks to the collector (``policies.contact``), with its numbers."""
    tr = translator(lang)
    lead, tail = (int(x.total_seconds() // 60) for x in (CONTACT_LEAD, CONTACT_TAIL))
    # One sentence per number: ngettext chooses a form for one count.
    return " ".join(
        (
            tr.ngettext(
                "It talks to the server from {n} minute before the first lesson of a school day.",
                "It talks to the server from {n} minutes before the first lesson of a school day.",
                lead,
            ).format(n=lead),
            tr.ngettext(
                "It stops {n} minute after the last summary of the day may be sent.",
                "It stops {n} minutes after the last summary of the day may be sent.",
                tail,
            ).format(n=tail),
            tr.gettext(
                "Once on a school day (Monday to Friday, {start}–{end}) it fetches the "
                "timetable. Never in the evening, at night or at the weekend without lessons; "
                "a summary that could not be sent waits for the next school day."
            ).format(start=f"{SCHOOL_HOURS[0]:%H:%M}", end=f"{SCHOOL_HOURS[1]:%H:%M}"),
        )
    )


def render_text(data: dict[str, Any]) -> str:
    """``explain_data`` as plain text for a terminal, in the language the data was built in."""
    lang: Lang = data["lang"]
    out = [data["title"], "=" * len(data["title"]), "", data["when"], "", t("rules", lang) + ":"]
    for rule in data["rules"]:
        state = "" if rule["enabled"] else f" [{t('off', lang)}]"
        out.append(f"  {rule['article']}{state}: {rule['statement']}")
        if rule["group_chat"]:
            out.append(f"      {t('group_chat', lang)}")
        elif rule["enabled"]:
            out.append(f"      ({', '.join(rule['categories'])})")
            out.append(f"      {t('permission' if rule['permission'] else 'no_permission', lang)}")
    out += ["", t("checks", lang) + ":", f"  - {t('apps', lang)}:"]
    for label, names in data["apps"].items():
        out.append(f"      {label}: {', '.join(names)}")
    for key in ("camera_microphone", "capture_files", "window_titles"):
        out.append(f"  - {data['signals'][key]}")
    out += ["", t("timing", lang) + ":", f"  {data['timing']}"]
    out += ["", t("contact", lang) + ":", f"  {data['contact']}"]
    browser = data["browser"]
    out += ["", t("browser", lang) + ":", f"  {browser['where']}"]
    out += [f"  - {t('browser_checked', lang)}: {browser['checked']}"]
    out += [f"  - {t('browser_never', lang)}: {browser['never']}", f"  {browser['paired']}"]
    out += ["", t("leaves", lang) + ":", f"  {data['leaves_device']}", ""]
    return "\n".join(out)
