"""``explain`` for pupils: the policy in plain words, the next lesson windows, when the device
talks to the school's server, what enrolment sent, and every summary of the last lesson.

The rules come from ``policies.explain`` (the same text the collector's policy page shows), with
the values the running agent really uses (its status file has them: the command line may
override the policy's). This module adds what only the device knows: when it will check next,
what it sent when it was enrolled and every summary it sent for the last lesson, in words and
verbatim. A pupil's device lists the pupils' rules, a staff device the staff rules
(``policies.explain.device_rules``), from the audience the collector gave it in its config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from agent.config import Lesson
from policies import localtime
from policies.engine import Audience
from policies.explain import explain_data, render_text
from policies.i18n import N_, translator
from policies.model import Lang, Policy
from policies.wire import LessonSummary, WireError, parse_summary, parse_time

_NUMBERS = re.compile(r"\[\s*((?:-?\d+,\s*)*-?\d+)\s*\]")

# The wire's probe names (``policies.wire.PROBES``) as a pupil reads them.
PROBE_NAMES: dict[str, str] = {
    "processes": N_("running programs"),
    "capture_files": N_("new capture files"),
    "camera": N_("use of the camera"),
    "microphone": N_("use of the microphone"),
    "window_title": N_("window titles"),
}


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


def windows_text(lessons: Sequence[Lesson], now: datetime, tz: ZoneInfo, lang: Lang) -> list[str]:
    _ = translator(lang).gettext
    if not lessons:
        return ["  " + _("No lessons are scheduled: nothing is being checked.")]
    out = []
    for x in lessons:
        running = " (" + _("running now") + ")" if x.start <= now < x.end else ""
        out.append(f"  {localtime.span(x.start, x.end, tz)}{running}")
    return out


def contact_windows_text(
    windows: Sequence[tuple[datetime, datetime]], tz: tzinfo, lang: Lang
) -> list[str]:
    """The coming contact windows (``schedule.contact_windows``) in the school's zone; the rule
    itself is in the policy's text above (``policies.explain.contact_text``)."""
    _ = translator(lang).gettext
    if not windows:
        return ["  " + _("None in the coming days: only the once-a-day contact on school days.")]
    return [f"  {localtime.span(start, end, tz)}" for start, end in windows]


def sent_text(sent_at: str, tz: tzinfo) -> str:
    """When a summary was sent, on the school's clock with the zone named; as stored when the
    outbox holds no readable time."""
    try:
        return localtime.moment(parse_time(sent_at, "sent at"), tz, named=True)
    except WireError:
        return sent_at or "?"


@dataclass(frozen=True)
class Enrolment:
    """What this device sent when it enrolled: nothing else about it reached the collector."""

    label: str | None
    platform: str
    version: str
    fingerprint: str | None
    # Whether the fingerprint is keyed with the school's key (agents before issue 15 sent an
    # unkeyed hash, and an identity they wrote still holds it).
    keyed: bool = True


def fingerprint_text(enrolment: Enrolment, lang: Lang) -> str:
    _ = translator(lang).gettext
    if enrolment.fingerprint is None:
        return _("fingerprint: none (the school's server gave no key for one)")
    if not enrolment.keyed:
        return _("fingerprint: {fingerprint} (a hash of this machine's id, not the id)").format(
            fingerprint=enrolment.fingerprint
        )
    return _(
        "fingerprint: {fingerprint} (made from this machine's id with a secret key of the "
        "school, so the id alone does not give it; only a copy of this computer's disk gives "
        "the same one)"
    ).format(fingerprint=enrolment.fingerprint)


def enrolment_text(enrolment: Enrolment | None, lang: Lang) -> list[str]:
    _ = translator(lang).gettext
    if enrolment is None:
        return ["  " + _("This device is not enrolled: it sends nothing.")]
    label = enrolment.label or _("none (the school knows this device only by its number)")
    return [
        "  " + _("label: {label}").format(label=label),
        "  "
        + _("platform: {platform}, agent version {version}").format(
            platform=enrolment.platform, version=enrolment.version
        ),
        "  " + fingerprint_text(enrolment, lang),
    ]


def _finding_name(policy: Policy, category: str, family: str, lang: Lang) -> str:
    """ "social media: Telegram": the category's and the family's (or signal's) own names."""
    known = policy.categories.get(category)
    what = known.label(lang) if known else category
    if family in policy.families:
        return f"{what}: {policy.families[family].name}"
    signal = policy.signals.get(family)
    return f"{what}: {signal.label(lang) if signal else family}"


def summary_sentences(summary: LessonSummary, policy: Policy, lang: Lang) -> list[str]:
    """One sent summary in words: how long checking ran, what could not be looked at, and each
    finding with its category, app, seconds and count; the numbers are those of the JSON."""
    tr = translator(lang)
    coverage = summary.coverage
    minutes = coverage.seconds_monitored // 60
    out = [
        tr.ngettext(
            "Checking ran for {n} minute of lesson {lesson}.",
            "Checking ran for {n} minutes of lesson {lesson}.",
            minutes,
        ).format(n=minutes, lesson=summary.lesson_id),
        tr.ngettext(
            "The device looked {n} time.", "The device looked {n} times.", coverage.samples
        ).format(n=coverage.samples),
    ]
    if coverage.gaps:
        out.append(
            tr.ngettext(
                "Checking was interrupted {n} time.",
                "Checking was interrupted {n} times.",
                coverage.gaps,
            ).format(n=coverage.gaps)
        )
    for state, line in (
        ("unavailable", N_("Could not be looked at on this device: {names}.")),
        ("off", N_("Switched off: {names}.")),
    ):
        names = [
            tr.gettext(PROBE_NAMES.get(k, k)) for k, v in coverage.probes.items() if v == state
        ]
        if names:
            out.append(tr.gettext(line).format(names=", ".join(names)))
    if not summary.findings:
        out.append(tr.gettext("Nothing was found."))
    for f in summary.findings:
        name = _finding_name(policy, f.category, f.family, lang)
        out.append(
            "- "
            + " ".join(
                (
                    tr.gettext("{name} (article {article}).").format(name=name, article=f.article),
                    tr.ngettext("{n} second in all.", "{n} seconds in all.", f.seconds).format(
                        n=f.seconds
                    ),
                    tr.ngettext("Seen {n} time.", "Seen {n} times.", f.episodes).format(
                        n=f.episodes
                    ),
                    tr.gettext("First in minute {minute} of the lesson.").format(
                        minute=f.first_minute
                    ),
                )
            )
        )
    if summary.dropped:
        out.append(
            tr.ngettext(
                "This device had to drop {n} earlier summary: its queue was full.",
                "This device had to drop {n} earlier summaries: its queue was full.",
                summary.dropped,
            ).format(n=summary.dropped)
        )
    return out


def summary_text(body: str, policy: Policy, lang: Lang) -> list[str]:
    """One sent summary in words, then verbatim: the same JSON, laid out one field a line."""
    _ = translator(lang).gettext
    try:
        data = json.loads(body)
        words = summary_sentences(parse_summary(data), policy, lang)
    except (ValueError, WireError):
        # Shown as it is: what was sent is the point, even when it cannot be read back.
        return ["  " + _("In words: this summary cannot be read back."), body]
    # One field a line, but a list of numbers (the buckets) on one line as it was sent.
    verbatim = _NUMBERS.sub(
        lambda m: "[" + ", ".join(m[1].replace(",", " ").split()) + "]",
        json.dumps(data, indent=2, ensure_ascii=False),
    )
    return [
        "  " + _("In words") + ":",
        *("    " + line for line in words),
        "  " + _("Exactly as sent (laid out for reading)") + ":",
        *("    " + line for line in verbatim.splitlines()),
    ]


def render(
    policy: Policy,
    lang: Lang,
    lessons: Sequence[Lesson],
    now: datetime,
    tz: ZoneInfo,
    sent: Sequence[tuple[str, str]],
    enrolment: Enrolment | None = None,
    windows: Sequence[tuple[datetime, datetime]] = (),
    audience: Audience = "pupil",
) -> str:
    """``policy`` with the values in force and only the rules of the device's ``audience``;
    ``sent``: every summary of the last lesson, with when it was sent, each exactly as it was
    sent; ``windows``: the coming contact windows."""
    _ = translator(lang).gettext
    out = [render_text(explain_data(policy, lang, audience)).rstrip("\n"), ""]
    out += [*helper_text(policy, lang), ""]
    checking = _("When checking happens ({zone})").format(zone=tz.key) + ":"
    out += [checking, *windows_text(lessons, now, tz, lang), ""]
    contact = _("When this device may talk to the school's server ({zone})").format(zone=tz.key)
    out += [contact + ":", *contact_windows_text(windows, tz, lang), ""]
    out += [_("What this device sent when it was enrolled") + ":"]
    out += [*enrolment_text(enrolment, lang), ""]
    out.append(_("Every summary sent for the last lesson, in words and exactly as sent") + ":")
    if not sent:
        out.append("  " + _("No summary has been sent yet."))
    for body, sent_at in sent:
        out.append("  " + _("(sent at {time})").format(time=sent_text(sent_at, tz)))
        out += summary_text(body, policy, lang)
    return "\n".join(out) + "\n"
