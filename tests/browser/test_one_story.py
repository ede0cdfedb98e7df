"""The extension's popup, ``lessonwatch-agent explain`` and the collector's ``/privacy`` say the
same thing about the browser (issue 16): the popup's sentences are the policies catalog's
``browser_text``, which explain and /privacy print (tests/web/test_pages.py checks /privacy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.explain import browser_text
from policies.model import Lang

LOCALES = Path(__file__).resolve().parents[2] / "browser" / "_locales"


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("key", ["checked", "never"])
def test_the_popup_says_what_explain_and_privacy_say(lang: Lang, key: str) -> None:
    messages = json.loads((LOCALES / lang / "messages.json").read_text(encoding="utf-8"))
    assert messages[key]["message"] == browser_text(lang)[key]
