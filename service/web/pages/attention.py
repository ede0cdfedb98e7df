"""The attention list page (``/attention``, and ``/escalations`` before it): the numbers of
``service.reports.attention`` with the labels, texts and links a page shows. Its JSON twin is
this same dictionary. Groups and subjects only: no pupil or teacher is named or ranked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from policies.model import Lang
from service.actors import Actor
from service.lessons import permissions
from service.models import School, User
from service.reports import attention
from service.schools import registry as schools
from service.web.i18n import Translate, translator

PATH = "/attention"


def url(query: Mapping[str, str]) -> str:
    return f"{PATH}?{urlencode(query)}" if query else PATH


def share_text(cell: Mapping[str, Any], t: Translate, small: int) -> str:
    """A share as the page shows it: "23 %", "fewer than 3" when hidden, "–" without data."""
    if cell["share"] is not None:
        return f"{cell['share']} %"
    if cell.get("hidden"):
        return t("fewer than %(n)s", n=small)
    return "–"


def level(value: int | None) -> int:
    """The heat map's shade: 0 without a share, then 1 to 4 by tens of percent; a class, so
    the colours stay in style.css."""
    return 0 if value is None else min(4, 1 + value // 10)


def change_text(change: int | None) -> str:
    if change is None:
        return "–"
    return f"{change:+d}" if change else "0"


def attention_page(
    session: Session,
    *,
    viewer: User,
    params: Mapping[str, str],
    now: datetime,
    lang: Lang,
) -> dict[str, Any]:
    filters = attention.parse_filters(params)
    data = attention.attention_list(session, actor=Actor.of_user(viewer), filters=filters, now=now)
    t = translator(lang)
    school = session.get_one(School, viewer.school_id)
    small = data["suppressed_below"]
    chosen = attention.Filters(**data["filters"])
    policy = permissions.school_policy(school)
    categories = [{"id": c, "label": cat.label(lang)} for c, cat in policy.categories.items()]
    weeks = [{**w, "label": t("Week %(week)s", week=int(w["week"][-2:]))} for w in data["weeks"]]
    heat = [
        {
            **g,
            "cells": [
                {
                    **c,
                    "text": share_text(c, t, small),
                    "week": weeks[n]["week"],
                    "level": level(c["share"]),
                }
                for n, c in enumerate(g["cells"])
            ],
        }
        for g in data["heat_map"]
    ]
    rows = [
        {
            **r,
            "share_text": f"{r['share']} %",
            "latest_text": share_text({"share": r["latest"]}, t, small),
            "change_text": change_text(r["change"]),
        }
        for r in data["rows"]
    ]
    newest = attention.monday_of(weeks[0]["week"])
    this_week = now.astimezone(schools.check_timezone(school.timezone)).date()
    later = newest + timedelta(weeks=1)
    return {
        **data,
        "weeks": weeks,
        "heat_map": heat,
        "rows": rows,
        "categories": categories,
        "query": chosen.query(page=1),
        "links": {
            "sort": {s: url(chosen.query(sort=s, page=1)) for s in attention.SORTS},
            "previous_page": url(chosen.query(page=chosen.page - 1)) if chosen.page > 1 else None,
            "next_page": url(chosen.query(page=chosen.page + 1))
            if chosen.page < data["pages"]
            else None,
            "earlier_weeks": url(
                chosen.query(week=attention.week_key(newest - timedelta(weeks=1)), page=1)
            ),
            "later_weeks": url(chosen.query(week=attention.week_key(later), page=1))
            if later <= this_week
            else None,
        },
    }
