"""The check of one class group chat against articles B.1 and A.6. Pure: data in, findings out.

Each finding names the rule in ``data/rules.toml``, its article, a severity, a stable code and an
explanation in Dutch and English built from the chat's own facts, so a teacher reads what is
wrong with *this* chat and what to do about it. docs/groupchats.md describes every code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policies.groupchat.chat import Chat, School
from policies.groupchat.platforms import WHATSAPP, ChatPlatform, PlatformCatalog
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

_KIND = {
    "messaging": Text(nl="een berichtenapp", en="a messaging app"),
    "social_media": Text(nl="sociale media", en="social media"),
    "school_platform": Text(nl="een schoolplatform", en="a school platform"),
}
_SURE = {
    "verified": Text(nl="", en=""),
    "secondary": Text(nl=" (volgens een secundaire bron)", en=" (according to a secondary source)"),
    "guess": Text(nl=" (niet door een bron bevestigd)", en=" (not confirmed by a source)"),
}


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
        found.append(_unknown_platform(chat))
    else:
        found.extend(_platform_findings(chat, school, catalog, platform))
    missing = chat.pupils_in_class - chat.pupils_in_chat
    if missing > 0 and chat.alternative == "none":
        found.append(_found("non_members_not_informed", _not_informed(chat, missing)))
    if chat.account == "private":
        name = platform.name if platform else chat.platform
        found.append(_found("private_account", _private(chat, name)))
    if "other" in chat.purposes:
        found.append(_found("purpose_outside_class_matters", _purpose(chat)))
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
        found.append(_found("whatsapp", _whatsapp(chat, own_name)))
    if own_name is not None and platform.id != own:
        # Another closed platform is still under a processor agreement: at risk, not broken.
        if platform.closed:
            text = _other_closed(chat, platform, own_name)
            found.append(_found("not_school_platform", text))
        else:
            text = _closed(chat, platform, own_name)
            found.append(_found("closed_platform_available", text))
    if platform.minimum_age is not None and chat.youngest_age < platform.minimum_age:
        found.append(_found("below_minimum_age", _too_young(chat, platform)))
    if platform.consent_under_16 and chat.youngest_age < CONSENT_AGE and not chat.parental_consent:
        found.append(_found("no_parental_consent", _no_consent(chat, platform)))
    return found


def _name(catalog: PlatformCatalog, platform_id: str) -> str:
    platform = catalog.get(platform_id)
    return platform.name if platform else platform_id


def _found(code: str, text: Text) -> ChatFinding:
    (rule, article), severity = CODES[code]
    return ChatFinding(rule=rule, article=article, severity=severity, code=code, explanation=text)


# --- Explanations: what is wrong with this chat, which article says so, what to do ------------


def _whatsapp(chat: Chat, own: str | None) -> Text:
    to_nl = own or "een gesloten communicatieplatform van school"
    to_en = own or "a closed school communication platform"
    return Text(
        nl=f"De groepschat van {chat.group} staat in WhatsApp. Artikel B.1 staat "
        "klassengroepschats in WhatsApp nooit toe: contacten uit het adresboek gaan naar Meta, "
        "foto's komen in privégalerijen terecht en een verwerkersovereenkomst is niet mogelijk. "
        f"Verhuis de groep naar {to_nl}.",
        en=f"The group chat of {chat.group} is in WhatsApp. Article B.1 never allows class group "
        "chats in WhatsApp: address-book contacts go to Meta, photos end up in personal galleries "
        f"and no processor agreement is possible. Move the group to {to_en}.",
    )


def _closed(chat: Chat, platform: ChatPlatform, own: str) -> Text:
    kind = _KIND[platform.kind]
    return Text(
        nl=f"De school heeft {own} als gesloten communicatieplatform, maar de groepschat van "
        f"{chat.group} staat in {platform.name} ({kind.nl}). Artikel B.1: heeft de school een "
        f"gesloten platform, dan wordt dat gebruikt. Verhuis de groep naar {own}.",
        en=f"The school has {own} as its closed communication platform, but the group chat of "
        f"{chat.group} is in {platform.name} ({kind.en}). Article B.1: where the school has a "
        f"closed platform, that platform is used. Move the group to {own}.",
    )


def _other_closed(chat: Chat, platform: ChatPlatform, own: str) -> Text:
    return Text(
        nl=f"De groepschat van {chat.group} staat in {platform.name}, maar de school heeft {own} "
        "gekozen als gesloten communicatieplatform. Artikel B.1 vraagt om het platform van de "
        f"school; verhuis de groep naar {own} of vraag de schoolleiding of {platform.name} ook "
        "mag.",
        en=f"The group chat of {chat.group} is in {platform.name}, but the school chose {own} as "
        "its closed communication platform. Article B.1 asks for the school's platform; move the "
        f"group to {own} or ask school leadership whether {platform.name} is allowed too.",
    )


def _too_young(chat: Chat, platform: ChatPlatform) -> Text:
    sure = _SURE[platform.confidence]
    day = platform.checked.isoformat()
    return Text(
        nl=f"De jongste leerling van {chat.group} is {chat.youngest_age} jaar; {platform.name} "
        f"vraagt in de EU minstens {platform.minimum_age} jaar{sure.nl}, nagekeken op {day}. "
        "Artikel B.1: een groepschat blijft binnen de leeftijdsregels van het platform. Gebruik "
        "een platform van school.",
        en=f"The youngest pupil of {chat.group} is {chat.youngest_age}; {platform.name} requires "
        f"at least {platform.minimum_age} in the EU{sure.en}, checked on {day}. Article B.1: a "
        "group chat stays within the platform's age rules. Use a school platform.",
    )


def _no_consent(chat: Chat, platform: ChatPlatform) -> Text:
    return Text(
        nl=f"De jongste leerling van {chat.group} is {chat.youngest_age} jaar, jonger dan "
        f"{CONSENT_AGE}, en er is geen toestemming van ouders vastgelegd. Voor {platform.name} is "
        f"onder de {CONSENT_AGE} toestemming van ouders nodig (UAVG art. 5). Artikel B.1: vraag "
        "die toestemming en leg haar vast, en bied wie haar niet geeft een andere weg.",
        en=f"The youngest pupil of {chat.group} is {chat.youngest_age}, under {CONSENT_AGE}, and "
        f"no parental consent is recorded. {platform.name} needs a parent's consent under "
        f"{CONSENT_AGE} (UAVG art. 5). Article B.1: ask for that consent and record it, and offer "
        "those who refuse another way.",
    )


def _not_informed(chat: Chat, missing: int) -> Text:
    total = chat.pupils_in_class
    return Text(
        nl=f"{missing} van de {total} leerlingen van {chat.group} zitten niet in de groepschat, en "
        "er is niet vastgelegd hoe zij het nieuws krijgen. Artikel B.1: leerlingen die niet in de "
        "chat zitten worden per mail, per post of op een andere manier geïnformeerd.",
        en=f"{missing} of the {total} pupils of {chat.group} are not in the group chat, and no "
        "other way to reach them is recorded. Article B.1: pupils not in the chat are informed by "
        "mail, by post or otherwise.",
    )


def _private(chat: Chat, platform: str) -> Text:
    return Text(
        nl=f"De groepschat van {chat.group} in {platform} loopt via een privéaccount. Artikel A.6: "
        "geen contact met leerlingen vanaf een privéaccount. Gebruik een account van school.",
        en=f"The group chat of {chat.group} in {platform} runs from a private account. Article "
        "A.6: no contact with pupils from a private account. Use a school account.",
    )


def _purpose(chat: Chat) -> Text:
    return Text(
        nl=f"Voor de groepschat van {chat.group} is een ander doel opgegeven dan klaszaken. "
        "Artikel B.1: een klassengroepschat is alleen voor klaszaken, zoals uitval, huiswerk, "
        "gymspullen, uitjes, kamp en het rooster.",
        en=f"The group chat of {chat.group} has a purpose other than class matters. Article B.1: "
        "a class group chat is only for class matters, such as cancelled lessons, homework, gym "
        "kit, trips, camp and the timetable.",
    )


def _unknown_platform(chat: Chat) -> ChatFinding:
    return _found(
        "platform_not_in_catalog",
        Text(
            nl=f"Het platform '{chat.platform}' van de groepschat van {chat.group} staat niet "
            "(meer) in de lijst van platforms, dus leeftijdsgrens en toestemming kunnen niet "
            "worden nagekeken (artikel B.1). Kies het platform opnieuw.",
            en=f"The platform '{chat.platform}' of the group chat of {chat.group} is not (or no "
            "longer) in the platform list, so its age limit and consent cannot be checked "
            "(article B.1). Choose the platform again.",
        ),
    )
