"""The collector's gettext catalogs: every text a person reads on the pages, and every error
message, in the domain ``lessonwatch_service``.

The msgids are the English sentences, so English needs no catalog (gettext answers with the
msgid). Dutch, with "je" throughout, is ``nl/LC_MESSAGES/lessonwatch_service.po``; gettext reads
the compiled ``.mo`` committed beside it, and a test keeps the two equal. docs/translations.md
gives the commands that extract, update and compile them.

Only the standard ``gettext`` module is used here; the surfaces wrap it (``service.web.i18n``).
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from policies.model import Lang

DOMAIN = "lessonwatch_service"
LOCALE_DIR = Path(__file__).resolve().parent


@cache
def translations(lang: Lang) -> gettext.NullTranslations:
    """The catalog of ``lang``. English falls back to the msgids; a missing Dutch catalog is an
    error, never a page silently in English."""
    # languages= is explicit so that LANGUAGE, LC_ALL and LANG of the process never choose.
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=lang == "en")


def N_(msgid: str) -> str:  # the conventional gettext name, which the extractors know
    """Marks ``msgid`` for extraction without translating it, for tables built at import time;
    whoever shows the value translates it in the reader's language."""
    return msgid
