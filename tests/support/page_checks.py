"""What the page walk (tests/web/test_every_page.py) checks on a loaded page besides axe-core:
the times it shows are the school's local time, and on a phone every table cell shows its
column's name."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page

_CLOCK = re.compile(r"\b\d{1,2}[:.]\d{2}\b")


def expected_text(stamp: str, text: str, tz: ZoneInfo) -> str | None:
    """What a ``<time datetime=stamp>`` reading ``text`` must show in the school's zone ``tz``:
    a moment shown with a clock time, its local hours and minutes; shown as a day, or a date
    alone, its (local) day of the month; a duration, nothing. New forms go here."""
    if stamp.startswith("P"):
        return None
    if "T" not in stamp:
        return str(date.fromisoformat(stamp).day)
    local = datetime.fromisoformat(stamp).astimezone(tz)
    return f"{local:%H:%M}" if _CLOCK.search(text) else str(local.day)


def wrong_times(page: Page, tz: ZoneInfo) -> list[str]:
    """Each ``<time datetime>`` on the page whose text does not show its moment as local."""
    wrong = []
    for stamp, text in page.eval_on_selector_all(
        "time[datetime]", "ts => ts.map(t => [t.getAttribute('datetime'), t.textContent])"
    ):
        expected = expected_text(stamp, text, tz)
        if expected is not None and expected not in text and expected.lstrip("0") not in text:
            wrong.append(f"<time datetime={stamp}> reads {text.strip()!r}, not {expected}")
    return wrong


# On a phone each cell of a data table shows its column's name (static/tables.js): the cells
# without one, and the rows under cells spanning rows (the escalations' further categories of a
# lesson) whose names are not the last columns' ones, shifted onto the spanned columns.
_UNNAMED = """() => [...document.querySelectorAll("table.data")].filter(t => t.tHead).flatMap(t => {
  const heads = [...t.tHead.rows[0].cells].map(c => c.textContent.trim());
  const rows = [...t.tBodies].flatMap(b => [...b.rows]);
  const unnamed = rows.flatMap(r => [...r.cells])
    .filter(c => c.colSpan === 1 && !c.classList.contains("actions") && !c.dataset.label);
  const shifted = rows.filter(r => r.cells.length < heads.length)
    .filter(r => [...r.cells].every(c => c.colSpan === 1))
    .filter(r => [...r.cells].some((c, i, all) =>
      c.dataset.label !== heads[heads.length - all.length + i]));
  return [...unnamed, ...shifted].map(c => c.textContent.trim().slice(0, 40));
})"""


def unnamed(page: Page) -> list[str]:
    found: list[str] = page.evaluate(_UNNAMED)
    return found
