"""What lessonwatch checks, in plain Dutch or English, built from the active policy.

``explain_data`` builds the content once; ``render_text`` prints it for a terminal, and the
collector's public policy page renders the same data as HTML.
"""

from __future__ import annotations

from typing import Any

from policies.model import Lang, Policy

_T: dict[str, dict[Lang, str]] = {
    "title": {"nl": "Wat lessonwatch controleert", "en": "What lessonwatch checks"},
    "when": {
        "nl": "Alleen tijdens de lessen van je klas volgens het rooster. Buiten de lessen, in "
        "pauzes, in vakanties en bij uitgevallen lessen controleert lessonwatch niets.",
        "en": "Only during your class's scheduled lessons. Outside lessons, in breaks, in "
        "holidays and in cancelled lessons lessonwatch checks nothing.",
    },
    "rules": {"nl": "De afspraken uit het protocol", "en": "The protocol's rules"},
    "off": {"nl": "Staat uit op deze school", "en": "Switched off at this school"},
    "permission": {
        "nl": "De docent of de schoolleiding kan hiervoor toestemming geven voor één les.",
        "en": "The teacher or school leadership can give permission for this for one lesson.",
    },
    "no_permission": {
        "nl": "Hiervoor wordt geen toestemming gegeven.",
        "en": "No permission can be given for this.",
    },
    "group_chat": {
        "nl": "Wordt gecontroleerd in het register van klassengroepschats, niet op je apparaat.",
        "en": "Checked in the register of class group chats, not on your device.",
    },
    "checks": {
        "nl": "Wat er op het apparaat wordt bekeken",
        "en": "What is looked at on the device",
    },
    "apps": {
        "nl": "Welke programma's draaien, vergeleken met deze lijst van apps",
        "en": "Which programs are running, compared with this list of apps",
    },
    "camera": {
        "nl": "Of de camera of de microfoon in gebruik is (niet wat ze zien of horen). Gebruik "
        "door de videobelprogramma's van school telt niet.",
        "en": "Whether the camera or microphone is in use (not what they see or hear). Use by "
        "the school's own video-call tools does not count.",
    },
    "capture": {
        "nl": "Of er nieuwe foto's, video's of geluidsopnamen verschijnen in de mappen voor "
        "schermafbeeldingen, schermopnamen, camera en geluidsopnamen. Alleen het soort bestand "
        "telt, nooit de naam of de inhoud.",
        "en": "Whether new photos, videos or sound files appear in the folders for screenshots, "
        "screen recordings, camera and sound recordings. Only the kind of file counts, never its "
        "name or content.",
    },
    "titles_on": {
        "nl": "De titel van het venster op de voorgrond van een browser, alleen om te zien of "
        "het een van de apps hierboven is. De titel zelf wordt niet bewaard.",
        "en": "The title of a browser window in the foreground, only to tell whether it is one "
        "of the apps above. The title itself is not kept.",
    },
    "titles_off": {
        "nl": "Venstertitels worden niet bekeken.",
        "en": "Window titles are not looked at.",
    },
    "leaves": {"nl": "Wat het apparaat verlaat", "en": "What leaves the device"},
    "leaves_text": {
        "nl": "Na elke les één samenvatting: per afspraak de categorie en de app-familie (zoals "
        "'sociale media: Telegram'), hoeveel seconden en hoe vaak, en hoe lang er gecontroleerd "
        "is. Nooit schermafbeeldingen, toetsaanslagen, webadressen, venstertitels, "
        "bestandsnamen of berichten.",
        "en": "After each lesson one summary: per rule the category and app family (such as "
        "'social media: Telegram'), how many seconds and how often, and how long checking ran. "
        "Never screenshots, keystrokes, web addresses, window titles, file names or messages.",
    },
    "timing": {"nl": "Hoe vaak", "en": "How often"},
    "timing_text": {
        "nl": "Elke {sample} seconden tijdens een les. Korter dan {grace} seconden telt niet. "
        "De samenvatting wordt binnen {upload} seconden na het einde van de les verstuurd.",
        "en": "Every {sample} seconds during a lesson. Less than {grace} seconds does not count. "
        "The summary is sent within {upload} seconds after the lesson ends.",
    },
}


def t(key: str, lang: Lang) -> str:
    return _T[key][lang]


def explain_data(policy: Policy, lang: Lang) -> dict[str, Any]:
    """Everything a pupil may want to know about the active policy, as plain data."""
    settings = policy.settings
    rules = []
    for rule in policy.rules:
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
    watched = {c for r in policy.rules if r.enabled for c in r.categories}
    apps: dict[str, list[str]] = {}
    for family in policy.families.values():
        if family.category in watched:
            label = policy.categories[family.category].label(lang)
            apps.setdefault(label, []).append(family.name)
    return {
        "lang": lang,
        "title": t("title", lang),
        "when": t("when", lang),
        "rules": rules,
        "apps": {label: sorted(names, key=str.casefold) for label, names in sorted(apps.items())},
        "signals": {
            "camera_microphone": t("camera", lang),
            "capture_files": t("capture", lang),
            "window_titles": t("titles_on" if settings.window_title_probe else "titles_off", lang),
        },
        "leaves_device": t("leaves_text", lang),
        "timing": t("timing_text", lang).format(
            sample=settings.sample_seconds,
            grace=settings.grace_seconds,
            upload=settings.upload_delay_max_seconds,
        ),
    }


def render_text(data: dict[str, Any]) -> str:
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
    out += ["", t("leaves", lang) + ":", f"  {data['leaves_device']}", ""]
    return "\n".join(out)
