"""Translations for the policy texts and the agent's ``explain``: the standard ``gettext`` module.

The msgids are the English source sentences, so English needs no catalog: gettext falls back to
the msgid. Dutch lives in ``locale/nl/LC_MESSAGES/lessonwatch.po`` with the compiled ``.mo``
beside it; docs/policy.md ("Translations") gives the commands that update both. Counts go through
``ngettext`` so a number is never followed by a plural chosen by hand.

    _ = translator("nl").gettext
    _("What lessonwatch checks")             # "Wat lessonwatch controleert"
    both(lambda tr: tr.gettext("..."))       # a Text in both languages, for stored findings
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from pathlib import Path

from policies.model import Lang, Text

DOMAIN = "lessonwatch"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# What every translator is; the English one is a NullTranslations that returns the msgid.
Translations = gettext.NullTranslations


@cache
def translator(lang: Lang) -> Translations:
    """The translations for ``lang``; English, or a missing catalog, gives the English msgids."""
    # languages= is explicit so that LANGUAGE, LC_ALL and LANG of the process never choose: the
    # caller's --lang, or the page's language, does.
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def both(build: Callable[[Translations], str]) -> Text:
    """``build`` run once per language: for data that carries Dutch and English side by side
    (group-chat findings are stored with both, and a form may show either)."""
    return Text(nl=build(translator("nl")), en=build(translator("en")))


def N_(msgid: str) -> str:  # the conventional gettext name, which the extractors know
    """Marks ``msgid`` for extraction without translating it, for tables built at import time;
    the caller translates the value when it has a language."""
    return msgid
