"""The page texts in Dutch (default) and English: one catalog module per language, keyed by
message id; a test checks that both hold the same ids and the same placeholders."""

from __future__ import annotations

from collections.abc import Callable

from policies.model import LANGS, Lang
from service.web.i18n import en, nl

CATALOGS: dict[Lang, dict[str, str]] = {"nl": nl.MESSAGES, "en": en.MESSAGES}
DEFAULT: Lang = "nl"


def as_lang(value: str | None) -> Lang | None:
    for lang in LANGS:
        if value == lang:
            return lang
    return None


def translator(lang: Lang) -> Callable[..., str]:
    catalog = CATALOGS[lang]

    def t(key: str, **values: object) -> str:
        text = catalog.get(key, key)
        return text.format(**values) if values else text

    return t
