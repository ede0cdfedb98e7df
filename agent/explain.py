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
from policies.i18n import translator
from policies.model import Lang, Policy


def helper_text(policy: Policy, lang: Lang) -> list[str]:
    """What the per-user helper checks and where it goes (docs/agent.md, ``helper``)."""
    _ = translator(lang).gettext
    looks_at = _(
        "During a lesson only, it looks at which program is in front (its name, not its "
        "folder) and which kind of file (.png, .mp4) is new in your screenshot, video or "
        "recording folders, never the file's name."
    )
    titles = _(
        "The school turned window titles on: the title is compared with the app list on this "
        "device and not kept."
    )
    where = _(
        "It passes this only to the lessonwatch service on this device; outside lessons it "
        "does nothing. What the school receives is below: the summary only."
    )
    out = [_("The helper in your own session (lessonwatch-agent helper)") + ":", "  " + looks_at]
    if policy.settings.window_title_probe:
        out.append("  " + titles)
    return [*out, "  " + where]


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def windows_text(lessons: Sequence[Lesson], now: datetime, tz: ZoneInfo, lang: Lang) -> list[str]:
    _ = translator(lang).gettext
    if not lessons:
        return ["  " + _("No lessons are scheduled: nothing is being checked.")]
    out = []
    for x in lessons:
        start, end = x.start.astimezone(tz), x.end.astimezone(tz)
        running = " (" + _("running now") + ")" if x.start <= now < x.end else ""
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
    _ = translator(lang).gettext
    out = [render_text(explain_data(policy, lang)).rstrip("\n"), ""]
    out += [*helper_text(policy, lang), ""]
    windows = _("When checking happens ({zone})").format(zone=tz.key) + ":"
    out += [windows, *windows_text(lessons, now, tz, lang), ""]
    out.append(_("The last summary sent, exactly as sent") + ":")
    if last_sent is None:
        out.append("  " + _("No summary has been sent yet."))
    else:
        body, sent_at = last_sent
        out.append("  " + _("(sent at {time})").format(time=sent_at))
        out.append(body)
    return "\n".join(out) + "\n"
