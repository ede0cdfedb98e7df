"""The pages' language: which one a request gets, and ``Translate``, the gettext catalog of
``service/locale`` for one language as the page code uses it.

    t = translator("nl")
    t("Lessons")                                             # "Lessen"
    t("Week %(week)s", week=48)                              # "Week 48"
    t.ngettext("%(num)s device", "%(num)s devices", 1)       # "1 apparaat"
    t.error(exc)                                             # a ServiceError, in Dutch

The templates get the same catalog through Jinja2's i18n extension (``service.web.render``):
``{{ _("Lessons") }}`` and ``{{ ngettext("%(num)s device", "%(num)s devices", n) }}``.
Placeholders are ``%(name)s`` in both, as Jinja2's new-style gettext wants them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Protocol, runtime_checkable

from policies.model import LANGS, Lang
from service.errors import ServiceError
from service.locale import translations

DEFAULT: Lang = "nl"
# An English number with thousands separators, as some error messages carry it ("10,485,760").
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")


def as_lang(value: str | None) -> Lang | None:
    for lang in LANGS:
        if value == lang:
            return lang
    return None


class Translate:
    """The catalog of one language, called with an English msgid and its values."""

    def __init__(self, lang: Lang) -> None:
        self.lang: Lang = lang
        self.translations = translations(lang)

    def __call__(self, msgid: str, /, **values: object) -> str:
        text = self.translations.gettext(msgid)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form for ``n`` (Dutch and English: one, or any other number); ``%(num)s`` is n."""
        return self.translations.ngettext(singular, plural, n) % {"num": n, **values}

    def message(self, msgid: str, params: Mapping[str, object]) -> str:
        """A message id with the values it was raised with, each in the reader's language too:
        a value with its own msgid and params (a timetable problem inside an error) is
        translated the same way, a text is looked up in the catalog (so a word marked with
        ``N_``, such as "feed URL", is translated), and an English "10,485,760" is written
        "10.485.760" in Dutch."""
        text = self.translations.gettext(msgid)
        if not params:
            return text
        return text % {name: self._value(value) for name, value in params.items()}

    def error(self, exc: ServiceError) -> str:
        return self.message(exc.msgid, exc.params)

    def _value(self, value: object) -> object:
        if isinstance(value, Translatable):
            return self.message(value.msgid, value.params)
        if not isinstance(value, str) or not value:  # gettext("") is the catalog's header
            return value
        if self.lang == "nl" and _GROUPED.fullmatch(value):
            return value.replace(",", ".")
        return self.translations.gettext(value)


@runtime_checkable
class Translatable(Protocol):
    """Anything with a message id and the values for it: a ``ServiceError``, a timetable
    error or problem."""

    @property
    def msgid(self) -> str: ...

    @property
    def params(self) -> Mapping[str, object]: ...


@cache
def translator(lang: Lang) -> Translate:
    return Translate(lang)
