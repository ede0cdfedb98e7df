"""``explain`` for pupils: the policy in plain words, the next lesson windows, the last summary.

The rules come from ``policies.explain`` (the same text the collector's policy page shows); this
module adds what only the device knows: when it will check next and, verbatim, the last summary
it sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config import Lesson
from policies.explain import explain_data, render_text
from policies.model import Lang, Policy

_T: dict[str, dict[Lang, str]] = {
    "windows": {"nl": "Wanneer er gecontroleerd wordt", "en": "When checking happens"},
    "no_windows": {
        "nl": "Er staan geen lessen gepland: er wordt nu niets gecontroleerd.",
        "en": "No lessons are scheduled: nothing is being checked.",
    },
    "now": {"nl": "nu bezig", "en": "running now"},
    "last": {
        "nl": "De laatste verstuurde samenvatting, precies zoals verstuurd",
        "en": "The last summary sent, exactly as sent",
    },
    "none_sent": {
        "nl": "Er is nog geen samenvatting verstuurd.",
        "en": "No summary has been sent yet.",
    },
    "sent_at": {"nl": "verstuurd op", "en": "sent at"},
    "helper": {
        "nl": "Het hulpprogramma in je eigen sessie (lessonwatch-agent helper)",
        "en": "The helper in your own session (lessonwatch-agent helper)",
    },
    "helper_what": {
        "nl": "Alleen tijdens een les kijkt het welk programma vooraan staat (de naam, geen map) "
        "en welk soort bestand (.png, .mp4) er nieuw in je map voor schermafbeeldingen, "
        "video's of opnames komt, nooit de bestandsnaam.",
        "en": "During a lesson only, it looks at which program is in front (its name, not its "
        "folder) and which kind of file (.png, .mp4) is new in your screenshot, video or "
        "recording folders, never the file's name.",
    },
    "helper_title": {
        "nl": "De school heeft de venstertitel aangezet: die wordt op dit apparaat vergeleken met "
        "de lijst van apps en niet bewaard.",
        "en": "The school turned window titles on: the title is compared with the app list on "
        "this device and not kept.",
    },
    "helper_where": {
        "nl": "Het geeft dat alleen door aan de lessonwatch-dienst op dit apparaat; buiten lessen "
        "doet het niets. Wat de school krijgt, staat hieronder: alleen de samenvatting.",
        "en": "It passes this only to the lessonwatch service on this device; outside lessons it "
        "does nothing. What the school receives is below: the summary only.",
    },
}


def helper_text(policy: Policy, lang: Lang) -> list[str]:
    """What the per-user helper checks and where it goes (docs/agent.md, ``helper``)."""
    out = [_T["helper"][lang] + ":", "  " + _T["helper_what"][lang]]
    if policy.settings.window_title_probe:
        out.append("  " + _T["helper_title"][lang])
    return [*out, "  " + _T["helper_where"][lang]]


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def windows_text(lessons: Sequence[Lesson], now: datetime, tz: ZoneInfo, lang: Lang) -> list[str]:
    if not lessons:
        return [f"  {_T['no_windows'][lang]}"]
    out = []
    for x in lessons:
        start, end = x.start.astimezone(tz), x.end.astimezone(tz)
        running = f" ({_T['now'][lang]})" if x.start <= now < x.end else ""
        out.append(f"  {start:%Y-%m-%d %H:%M}–{end:%H:%M}{running}")
    return out


def render(
    policy: Policy,
    lang: Lang,
    lessons: Sequence[Lesson],
    now: datetime,
    tz: ZoneInfo,
    last_sent: tuple[str, str] | None,
) -> str:
    out = [render_text(explain_data(policy, lang)).rstrip("\n"), ""]
    out += [*helper_text(policy, lang), ""]
    out += [_T["windows"][lang] + f" ({tz.key}):", *windows_text(lessons, now, tz, lang), ""]
    out.append(_T["last"][lang] + ":")
    if last_sent is None:
        out.append(f"  {_T['none_sent'][lang]}")
    else:
        body, sent_at = last_sent
        out.append(f"  ({_T['sent_at'][lang]} {sent_at})")
        out.append(body)
    return "\n".join(out) + "\n"
