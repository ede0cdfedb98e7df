"""The lesson report page: numbers per category and app family, the timeline chart, coverage
gaps, the group's trend and the permission form, for one lesson the viewer may see.

The numbers are those of the report operation (``service.reports.lesson_report``), which has
already suppressed counts of fewer devices than the school's threshold for every viewer: rows
then carry ``devices: null``, and here a ``devices_text`` such as "fewer than 3". The page adds
labels, text and the chart, never a number of its own. Device-level numbers live on their own
audited page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from policies import localtime
from policies.model import Lang
from service import access
from service.actors import Actor
from service.lessons import permissions
from service.lessons import records as lessons
from service.models import Lesson, School, User
from service.reports.lesson_report import lesson_report
from service.schools import registry as schools
from service.web import chart
from service.web.i18n import Translate, translator
from service.web.i18n import labels as words
from service.web.pages.common import lesson_card, minutes
from service.web.pages.trend import group_trend


def _with_text(rows: list[dict[str, Any]], fewer: str) -> list[dict[str, Any]]:
    return [
        {
            **r,
            "devices_text": fewer if r["devices"] is None else str(r["devices"]),
            "minutes": None if r["seconds"] is None else minutes(r["seconds"]),
        }
        for r in rows
    ]


def still_reporting(lesson_end: datetime, spread_seconds: int, now: datetime) -> bool:
    """Whether devices may still send this lesson's summary: they send it after the lesson
    plus a random delay up to the upload spread, so a device missing before then is "not yet",
    not a failure."""
    return now < lesson_end + timedelta(seconds=spread_seconds)


def missing_text(missing: int, *, waiting: bool, t: Translate) -> str:
    if waiting:
        return t.ngettext(
            "%(num)s device has not reported yet", "%(num)s devices have not reported yet", missing
        )
    return t.ngettext("%(num)s device did not report", "%(num)s devices did not report", missing)


def chart_summary(
    report: Mapping[str, Any],
    *,
    waiting: bool,
    permissions: Sequence[tuple[datetime, datetime | None, str]],
    tz: ZoneInfo,
    t: Translate,
) -> str:
    """The chart in sentences, for a screen reader (the SVG's description): the marks too."""
    peak = max(
        (sum(r["devices"] or 0 for r in b["categories"]) for b in report["timeline"]), default=0
    )
    sentences = [
        t.ngettext(
            "%(reporting)s of %(num)s device reported.",
            "%(reporting)s of %(num)s devices reported.",
            report["devices_expected"],
            reporting=report["devices_reporting"],
        ),
        t.ngettext(
            "At most %(num)s device had a finding in one 5-minute period.",
            "At most %(num)s devices had a finding in one 5-minute period.",
            peak,
        ),
        t.ngettext(
            "A count below %(num)s device is drawn as a thin hatched band.",
            "A count below %(num)s devices is drawn as a thin hatched band.",
            report["suppressed_below"],
        ),
    ]
    for granted, withdrawn, what in permissions:
        sentences.append(
            t(
                "Permission for %(what)s from %(time)s.",
                what=what,
                time=localtime.clock(granted, tz),
            )
        )
        if withdrawn is not None:
            sentences.append(t("Withdrawn at %(time)s.", time=localtime.clock(withdrawn, tz)))
    if waiting:
        sentences.append(t("The lesson is still running or devices may still report."))
    return " ".join(sentences)


def report_page(
    session: Session, *, lesson_id: str, viewer: User, now: datetime, lang: Lang
) -> dict[str, Any]:
    t = translator(lang)
    actor = Actor.of_user(viewer)
    report = lesson_report(session, lesson_id=lesson_id, actor=actor, now=now)
    lesson = session.get_one(Lesson, lesson_id)
    school = session.get_one(School, lesson.school_id)
    threshold = report["suppressed_below"]
    policy = permissions.school_policy(school)
    labels = {c: cat.label(lang) for c, cat in policy.categories.items()}
    names = {f: fam.name for f, fam in policy.families.items()}
    names.update({s: sig.label(lang) for s, sig in policy.signals.items()})
    fewer = t("fewer than %(n)s", n=threshold)
    palette = chart.colours(list(policy.categories))
    categories = [
        {
            **r,
            "label": labels.get(r["category"], r["category"]),
            "colour": palette.get(r["category"]),
        }
        for r in _with_text(report["categories"], fewer)
    ]
    families = [
        {
            **r,
            "label": labels.get(r["category"], r["category"]),
            "name": names.get(r["family"], r["family"]),
        }
        for r in _with_text(report["families"], fewer)
    ]
    cov = report["coverage"]
    spread = policy.settings.upload_delay_max_seconds
    waiting = still_reporting(lesson.end, spread, now)
    gaps = []
    if cov["devices_missing"]:
        gaps.append(missing_text(cov["devices_missing"], waiting=waiting, t=t))
    if cov["devices_with_gaps"]:
        gaps.append(
            t.ngettext(
                "%(num)s device had an interruption",
                "%(num)s devices had an interruption",
                cov["devices_with_gaps"],
            )
        )
    if cov.get("unreadable"):
        # Rows an older collector stored and no parser reads any more (service.reports.stored):
        # left out of every number above, so the report says so rather than look complete.
        gaps.append(
            t.ngettext(
                "%(num)s stored summary could not be read and is left out",
                "%(num)s stored summaries could not be read and are left out",
                cov["unreadable"],
            )
        )
    for probe, count in cov["probes_unavailable"].items():
        gaps.append(
            t.ngettext(
                "%(num)s device could not check %(probe)s",
                "%(num)s devices could not check %(probe)s",
                count,
                probe=t(words.label(words.PROBES, probe)),
            )
        )
    tz = schools.check_timezone(school.timezone)
    given = lessons.permissions_for(session, [lesson_id])
    perms = [
        {
            **lessons.permission_json(p),
            "id": p.id,
            "note": p.note,
            "active": p.withdrawn_at is None,
            "labels": [labels.get(c, c) for c in p.categories],
        }
        for p in given
    ]
    card = lesson_card(report["lesson"], tz=tz, now=now, t=t)
    order = list(policy.categories)
    marks = [
        (p.granted_at, p.withdrawn_at, ", ".join(labels.get(c, c) for c in p.categories))
        for p in given
    ]
    drawing = chart.build_chart(
        report["timeline"],
        lesson_start=lesson.start,
        lesson_end=lesson.end,
        now=now,
        devices_expected=report["devices_expected"],
        categories=order,
        labels=labels,
        permissions=marks,
        tz=tz,
        words=chart.Words(
            title=t("Devices with a finding per 5 minutes"),
            desc=chart_summary(report, waiting=waiting, permissions=marks, tz=tz, t=t),
            axis_devices=t("devices"),
            fewer=fewer,
            expected=t("%(num)s expected", num=report["devices_expected"]),
            granted=t("permission"),
            withdrawn=t("withdrawn"),
            not_yet=t("not yet"),
        ),
    )
    in_chart = [c for c in order if c in {r["category"] for r in report["categories"]}]
    return {
        "lesson": card,
        "source": report["source"],
        "holiday": report.get("holiday"),
        "devices_expected": report["devices_expected"],
        "devices_reporting": report["devices_reporting"],
        "suppressed_below": threshold,
        "categories": categories,
        "families": families,
        "timeline": report["timeline"],
        "chart_svg": chart.render_svg(drawing),
        "chart_table": {
            "categories": [labels.get(c, c) for c in in_chart],
            "rows": chart.table_rows(report["timeline"], categories=in_chart, fewer=fewer, tz=tz),
        },
        "still_reporting": waiting,
        # The "not yet" line, shown without the warning colour of a real gap.
        "not_yet_gap": gaps[0] if waiting and cov["devices_missing"] else None,
        "coverage": cov,
        "coverage_gaps": gaps,
        "trend": group_trend(session, lesson=lesson, school=school, actor=actor, now=now, t=t),
        "permissions": perms,
        "can_change_permissions": now < lesson.end and not lesson.cancelled,
        "grantable": permissions.category_choices(policy, lang),
        "may_see_devices": access.may_see_devices(actor, school),
    }
