"""A registered class group chat and the school's setting, and the validation of both.

What a teacher declares is facts about the chat, never its content: no messages, member names or
phone numbers. ``validate_chat`` turns a submitted form or JSON object into a ``Chat`` or raises
``ChatInputError`` carrying one message per field, in Dutch and English, for the form to show
next to that field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from policies.groupchat.platforms import PlatformCatalog
from policies.i18n import N_, Translations, both
from policies.model import Lang, Text

Account = Literal["school", "private"]
ACCOUNTS: tuple[Account, ...] = ("school", "private")

# B.1 lists the class matters a group chat is for; "other" is anything else.
Purpose = Literal["cancelled_lessons", "homework", "gym_kit", "trips", "camp", "schedule", "other"]
PURPOSES: tuple[Purpose, ...] = (
    "cancelled_lessons",
    "homework",
    "gym_kit",
    "trips",
    "camp",
    "schedule",
    "other",
)

# How pupils who are not in the chat get the same news.
Alternative = Literal["none", "mail", "post", "school_platform", "other"]
ALTERNATIVES: tuple[Alternative, ...] = ("none", "mail", "post", "school_platform", "other")

MAX_GROUP = 40
MAX_PUPILS = 500  # a whole year group on a trip, not only one class
AGE_RANGE = (4, 30)  # pupils start school at 4; adult learners in VAVO are the oldest
FIELDS = (
    "group",
    "platform",
    "account",
    "purposes",
    "pupils_in_class",
    "pupils_in_chat",
    "youngest_age",
    "parental_consent",
    "alternative",
)


@dataclass(frozen=True)
class Chat:
    group: str
    platform: str
    account: Account
    purposes: frozenset[Purpose]
    pupils_in_class: int
    pupils_in_chat: int
    youngest_age: int
    parental_consent: bool
    alternative: Alternative

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``validate_chat`` reads back; purposes in their fixed order."""
        return {
            "group": self.group,
            "platform": self.platform,
            "account": self.account,
            "purposes": [p for p in PURPOSES if p in self.purposes],
            "pupils_in_class": self.pupils_in_class,
            "pupils_in_chat": self.pupils_in_chat,
            "youngest_age": self.youngest_age,
            "parental_consent": self.parental_consent,
            "alternative": self.alternative,
        }


@dataclass(frozen=True)
class School:
    """The school's settings the check needs: its closed communication platform, if any."""

    closed_platform: str | None = None


@dataclass(frozen=True)
class FieldError:
    field: str
    message: Text


class ChatInputError(ValueError):
    """A submitted chat or school setting is wrong; ``errors`` holds one message per field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message.en}" for e in self.errors))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(e.field for e in self.errors)

    def messages(self, lang: Lang) -> dict[str, str]:
        return {e.field: e.message(lang) for e in self.errors}


def validate_chat(raw: Mapping[str, Any], catalog: PlatformCatalog) -> Chat:
    """The chat described by ``raw`` (a JSON object), or ChatInputError naming every bad field."""
    if not isinstance(raw, Mapping):
        raise ChatInputError(
            [_error("chat", lambda tr: tr.gettext("Expected an object with fields."))]
        )
    errors: list[FieldError] = []
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        # The name is echoed back, so only a short, printable part of it.
        shown = "".join(c for c in unknown[0][:40] if c.isprintable())
        errors.append(
            _error(
                "chat",
                lambda tr: tr.gettext(
                    "Unknown field '{name}'. The register holds only: {fields}."
                ).format(name=shown, fields=", ".join(FIELDS)),
            )
        )
    check = _Fields(raw, errors)
    group = check.text("group")
    platform = check.choice("platform", tuple(p.id for p in catalog), quote=False)
    account = check.choice("account", ACCOUNTS)
    purposes = check.purposes()
    in_class = check.number("pupils_in_class", 1, MAX_PUPILS)
    in_chat = check.number("pupils_in_chat", 0, MAX_PUPILS)
    youngest = check.number("youngest_age", *AGE_RANGE)
    consent = check.flag("parental_consent")
    alternative = check.choice("alternative", ALTERNATIVES)
    if in_class is not None and in_chat is not None and in_chat > in_class:
        errors.append(
            _error(
                "pupils_in_chat",
                lambda tr: tr.gettext(
                    "More pupils in the chat ({in_chat}) than in the class ({in_class})."
                ).format(in_chat=in_chat, in_class=in_class),
            )
        )
    if errors:
        raise ChatInputError(errors)
    return Chat(
        group=cast(str, group),
        platform=cast(str, platform),
        account=cast(Account, account),
        purposes=cast(frozenset[Purpose], purposes),
        pupils_in_class=cast(int, in_class),
        pupils_in_chat=cast(int, in_chat),
        youngest_age=cast(int, youngest),
        parental_consent=cast(bool, consent),
        alternative=cast(Alternative, alternative),
    )


def validate_school(raw: Mapping[str, Any], catalog: PlatformCatalog) -> School:
    """The school setting in ``raw``; its closed platform must be a closed one in the catalog."""
    if not isinstance(raw, Mapping) or set(raw) - {"closed_platform"}:
        raise ChatInputError(
            [_error("school", lambda tr: tr.gettext("Only the field closed_platform."))]
        )
    value = raw.get("closed_platform")
    if value is None:
        return School()
    closed = tuple(p.id for p in catalog.closed())
    if value not in closed:
        raise ChatInputError(
            [
                _error(
                    "closed_platform",
                    lambda tr: tr.gettext("Choose a closed school platform: {choices}.").format(
                        choices=", ".join(closed)
                    ),
                )
            ]
        )
    return School(closed_platform=value)


def _error(field: str, message: Callable[[Translations], str]) -> FieldError:
    """The message for ``field``, built in both languages: a form or the API may show either."""
    return FieldError(field, both(message))


class _Fields:
    """Reads one field at a time, noting a message for each bad one and returning None."""

    def __init__(self, raw: Mapping[str, Any], errors: list[FieldError]):
        self.raw, self.errors = raw, errors

    def _get(self, field: str) -> Any:
        if field not in self.raw or self.raw[field] is None:
            self.errors.append(_error(field, lambda tr: tr.gettext("This field is missing.")))
            return None
        return self.raw[field]

    def text(self, field: str) -> str | None:
        value = self._get(field)
        if value is None:
            return None
        if (
            not isinstance(value, str)
            or not value.strip()
            or len(value) > MAX_GROUP
            or not value.isprintable()
        ):
            self.errors.append(
                _error(
                    field,
                    lambda tr: tr.ngettext(
                        "A name of 1 to {most} plain character, such as 3B.",
                        "A name of 1 to {most} plain characters, such as 3B.",
                        MAX_GROUP,
                    ).format(most=MAX_GROUP),
                )
            )
            return None
        return value.strip()

    def choice(self, field: str, allowed: tuple[str, ...], *, quote: bool = True) -> str | None:
        value = self._get(field)
        if value is None:
            return None
        if not isinstance(value, str) or value not in allowed:
            listed = ", ".join(allowed)
            if quote:
                unknown = N_("Unknown value. Choose one of: {choices}.")
            else:
                unknown = N_("Unknown platform. Choose one of: {choices}.")
            self.errors.append(_error(field, lambda tr: tr.gettext(unknown).format(choices=listed)))
            return None
        return value

    def number(self, field: str, low: int, high: int) -> int | None:
        value = self._get(field)
        if value is None:
            return None
        # bool is an int in Python; a checkbox value is no count.
        if type(value) is not int or not low <= value <= high:
            self.errors.append(
                _error(
                    field,
                    lambda tr: tr.gettext("A whole number from {low} to {high}.").format(
                        low=low, high=high
                    ),
                )
            )
            return None
        return value

    def flag(self, field: str) -> bool | None:
        value = self._get(field)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.errors.append(_error(field, lambda tr: tr.gettext("Yes or no (true or false).")))
            return None
        return value

    def purposes(self) -> frozenset[str] | None:
        value = self._get("purposes")
        if value is None:
            return None
        known = ", ".join(PURPOSES)
        if (
            not isinstance(value, list | tuple)
            or not 1 <= len(value) <= len(PURPOSES)
            or any(p not in PURPOSES for p in value if isinstance(p, str))
            or not all(isinstance(p, str) for p in value)
            or len(set(value)) != len(value)
        ):
            self.errors.append(
                _error(
                    "purposes",
                    lambda tr: tr.gettext(
                        "Choose one or more purposes, each once, from: {choices}."
                    ).format(choices=known),
                )
            )
            return None
        return frozenset(value)
