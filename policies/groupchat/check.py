"""The check of one class group chat against articles B.1 and A.6. Pure: data in, findings out.

Each finding names the rule in ``data/rules.toml``, its article, a severity, a stable code and an
explanation in Dutch and English built from the chat's own facts, so a teacher reads what is
wrong with *this* chat and what to do about it. docs/groupchats.md describes every code. The
sentences are gettext msgids (``policies.i18n``); the Dutch comes from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from policies.groupchat.chat import Chat, School
from policies.groupchat.platforms import WHATSAPP, ChatPlatform, PlatformCatalog
from policies.i18n import N_, Translations, both
from policies.model import Policy, Severity, Text

B1 = ("b1-group-chat", "B.1")
A6 = ("a6-private-account", "A.6")
CONSENT_AGE = 16  # UAVG art. 5: the Dutch digital age of consent

# Every code the check can give, with its rule and article and how serious it is.
CODES: dict[str, tuple[tuple[str, str], Severity]] = {
    "whatsapp": (B1, "violation"),
    "closed_platform_available": (B1, "violation"),
    "below_minimum_age": (B1, "violation"),
    "no_parental_consent": (B1, "violation"),
    "non_members_not_informed": (B1, "violation"),
    "private_account": (A6, "violation"),
    "not_school_platform": (B1, "warning"),
    "purpose_outside_class_matters": (B1, "warning"),
    "platform_not_in_catalog": (B1, "warning"),
}

# Marked here, translated where the sentence is built (``_closed`` and ``_too_young``).
_KIND = {
    "messaging": N_("a messaging app"),
    "social_media": N_("social media"),
    "school_platform": N_("a school platform"),
}
_SURE = {
    "secondary": N_("according to a secondary source"),
    "guess": N_("not confirmed by a source"),
}

# An explanation is built once per language from the chat's facts and a translator.
Explain = Callable[[Translations], str]


@dataclass(frozen=True)
class ChatFinding:
    rule: str
    article: str
    severity: Severity
    code: str
    explanation: Text


def check_chat(chat: Chat, school: School, catalog: PlatformCatalog) -> list[ChatFinding]:
    """Every article ``chat`` breaks or puts at risk; violations first, then warnings."""
    found: list[ChatFinding] = []
    platform = catalog.get(chat.platform)
    if platform is None:
        found.append(_found("platform_not_in_catalog", partial(_unknown_platform, chat)))
    else:
        found.extend(_platform_findings(chat, school, catalog, platform))
    missing = chat.pupils_in_class - chat.pupils_in_chat
    if missing > 0 and chat.alternative == "none":
        found.append(_found("non_members_not_informed", partial(_not_informed, chat, missing)))
    if chat.account == "private":
        name = platform.name if platform else chat.platform
        found.append(_found("private_account", partial(_private, chat, name)))
    if "other" in chat.purposes:
        found.append(_found("purpose_outside_class_matters", partial(_purpose, chat)))
    return sorted(found, key=lambda f: f.severity != "violation")


def active_findings(findings: Iterable[ChatFinding], policy: Policy) -> list[ChatFinding]:
    """Only the findings whose rule the school has not switched off in its policy override."""
    enabled = {r.id for r in policy.rules if r.enabled}
    return [f for f in findings if f.rule in enabled]


def _platform_findings(
    chat: Chat, school: School, catalog: PlatformCatalog, platform: ChatPlatform
) -> list[ChatFinding]:
    found: list[ChatFinding] = []
    own = school.closed_platform
    own_name = _name(catalog, own) if own else None
    if platform.id == WHATSAPP:
        found.append(_found("whatsapp", partial(_whatsapp, chat, own_name)))
    if own_name is not None and platform.id != own:
        # Another closed platform is still under a processor agreement: at risk, not broken.
        if platform.closed:
            explain = partial(_other_closed, chat, platform, own_name)
            found.append(_found("not_school_platform", explain))
        else:
            explain = partial(_closed, chat, platform, own_name)
            found.append(_found("closed_platform_available", explain))
    if platform.minimum_age is not None and chat.youngest_age < platform.minimum_age:
        found.append(
            _found("below_minimum_age", partial(_too_young, chat, platform, platform.minimum_age))
        )
    if platform.consent_under_16 and chat.youngest_age < CONSENT_AGE and not chat.parental_consent:
        found.append(_found("no_parental_consent", partial(_no_consent, chat, platform)))
    return found


def _name(catalog: PlatformCatalog, platform_id: str) -> str:
    platform = catalog.get(platform_id)
    return platform.name if platform else platform_id


def _found(code: str, explain: Explain) -> ChatFinding:
    (rule, article), severity = CODES[code]
    return ChatFinding(
        rule=rule, article=article, severity=severity, code=code, explanation=both(explain)
    )


# --- Explanations: what is wrong with this chat, which article says so, what to do ------------


def _whatsapp(chat: Chat, own: str | None, tr: Translations) -> str:
    to = own or tr.gettext("a closed school communication platform")
    return tr.gettext(
        "The group chat of {group} is in WhatsApp. Article B.1 never allows class group chats in "
        "WhatsApp: address-book contacts go to Meta, photos end up in personal galleries and no "
        "processor agreement is possible. Move the group to {to}."
    ).format(group=chat.group, to=to)


def _closed(chat: Chat, platform: ChatPlatform, own: str, tr: Translations) -> str:
    return tr.gettext(
        "The school has {own} as its closed communication platform, but the group chat of "
        "{group} is in {platform} ({kind}). Article B.1: where the school has a closed platform, "
        "that platform is used. Move the group to {own}."
    ).format(
        own=own, group=chat.group, platform=platform.name, kind=tr.gettext(_KIND[platform.kind])
    )


def _other_closed(chat: Chat, platform: ChatPlatform, own: str, tr: Translations) -> str:
    return tr.gettext(
        "The group chat of {group} is in {platform}, but the school chose {own} as its closed "
        "communication platform. Article B.1 asks for the school's platform; move the group to "
        "{own} or ask school leadership whether {platform} is allowed too."
    ).format(group=chat.group, platform=platform.name, own=own)


def _too_young(chat: Chat, platform: ChatPlatform, minimum: int, tr: Translations) -> str:
    # Two ages, so two sentences: ngettext chooses a form for one number only.
    sure = f" ({tr.gettext(_SURE[platform.confidence])})" if platform.confidence in _SURE else ""
    age = chat.youngest_age
    return " ".join(
        (
            # Translators: {group} is a class such as 3B; Dutch "jaar" is the same for every age.
            tr.ngettext(
                "The youngest pupil of {group} is {age} year old.",
                "The youngest pupil of {group} is {age} years old.",
                age,
            ).format(group=chat.group, age=age),
            # Translators: {sure} is empty or " (according to a secondary source)" and the like.
            tr.ngettext(
                "{platform} requires at least {minimum} year of age in the EU{sure}, checked "
                "on {day}.",
                "{platform} requires at least {minimum} years of age in the EU{sure}, checked "
                "on {day}.",
                minimum,
            ).format(
                platform=platform.name,
                minimum=minimum,
                sure=sure,
                day=platform.checked.isoformat(),
            ),
            tr.gettext(
                "Article B.1: a group chat stays within the platform's age rules. Use a school "
                "platform."
            ),
        )
    )


def _no_consent(chat: Chat, platform: ChatPlatform, tr: Translations) -> str:
    age = chat.youngest_age
    return tr.ngettext(
        "The youngest pupil of {group} is {age} year old, under {consent}, and no parental "
        "consent is recorded. {platform} needs a parent's consent under {consent} (UAVG art. "
        "5). Article B.1: ask for that consent and record it, and offer those who refuse "
        "another way.",
        "The youngest pupil of {group} is {age} years old, under {consent}, and no parental "
        "consent is recorded. {platform} needs a parent's consent under {consent} (UAVG art. "
        "5). Article B.1: ask for that consent and record it, and offer those who refuse "
        "another way.",
        age,
    ).format(group=chat.group, age=age, consent=CONSENT_AGE, platform=platform.name)


def _not_informed(chat: Chat, missing: int, tr: Translations) -> str:
    # Two counts (the class and those missing), so two sentences, each with its own ngettext.
    total = chat.pupils_in_class
    return " ".join(
        (
            tr.ngettext("{group} has {n} pupil.", "{group} has {n} pupils.", total).format(
                group=chat.group, n=total
            ),
            tr.ngettext(
                "{n} of them is not in the group chat, and no other way to reach them is recorded.",
                "{n} of them are not in the group chat, and no other way to reach them is "
                "recorded.",
                missing,
            ).format(n=missing),
            tr.gettext(
                "Article B.1: pupils not in the chat are informed by mail, by post or otherwise."
            ),
        )
    )


def _private(chat: Chat, platform: str, tr: Translations) -> str:
    return tr.gettext(
        "The group chat of {group} in {platform} runs from a private account. Article A.6: no "
        "contact with pupils from a private account. Use a school account."
    ).format(group=chat.group, platform=platform)


def _purpose(chat: Chat, tr: Translations) -> str:
    return tr.gettext(
        "The group chat of {group} has a purpose other than class matters. Article B.1: a class "
        "group chat is only for class matters, such as cancelled lessons, homework, gym kit, "
        "trips, camp and the timetable."
    ).format(group=chat.group)


def _unknown_platform(chat: Chat, tr: Translations) -> str:
    return tr.gettext(
        "The platform '{platform}' of the group chat of {group} is not (or no longer) in the "
        "platform list, so its age limit and consent cannot be checked (article B.1). Choose "
        "the platform again."
    ).format(platform=chat.platform, group=chat.group)
