"""The lesson timeline as an SVG drawn on the server: devices per category per 5-minute bucket.

Two steps, both pure. ``build_chart`` turns the report's timeline (and the lesson's times, the
permissions and ``now``) into a ``Drawing``: positions, fills and texts, no markup. ``render_svg``
writes that drawing as SVG; every text is escaped there, because the template inserts the markup
as is. Tests check the drawing, not the markup.

What the drawing decides, and why:
- the y-axis runs to the devices expected in the lesson (or higher when the stacked bars are),
  so a bar reads as "so many of the class";
- a category counted on fewer devices than the school's threshold is no bar: it would have to be
  drawn at some made-up height, and full-height hatched bars once made up most of the chart. It
  is one thin hatched band per bucket on top of the counted bars, the same height whatever was
  hidden, so it says "a few" and reveals no more than the table's "fewer than N";
- each category keeps the colour of its place in the policy, so a colour means the same category
  in every lesson and in the legend;
- the moments a permission started and was withdrawn are vertical marks on the time axis;
- while the lesson runs, the part of the time axis still to come is shaded "not yet".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Literal
from zoneinfo import ZoneInfo

from policies import localtime
from policies.wire import parse_time

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 56
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# The height of the "fewer than N" band: visible, never mistaken for a count.
BAND = 5.0
X_LABEL_Y = TOP + PLOT_H + 16
PALETTE = ("#3b6ea5", "#d9822b", "#5a9e6f", "#a45aa5", "#c44e52", "#8c8c3a", "#4aa3a3", "#7a6f5c")


def colours(categories: Sequence[str]) -> dict[str, str]:
    """A colour per category by its place in ``categories`` (the policy's order)."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}


@dataclass(frozen=True)
class Words:
    """The chart's texts, translated by the page."""

    title: str
    desc: str
    axis_devices: str
    fewer: str  # "fewer than 3"
    expected: str  # "24 expected"
    granted: str  # "permission"
    withdrawn: str  # "withdrawn"
    not_yet: str  # "not yet"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str  # a colour, or "hatch" for the band of hidden small counts
    tip: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Mark:
    x: float
    kind: Literal["granted", "withdrawn"]
    text: str


@dataclass(frozen=True)
class LegendItem:
    fill: str
    text: str


@dataclass(frozen=True)
class Drawing:
    words: Words
    y_top: int
    y_ticks: tuple[Label, ...]
    expected_y: float | None
    bars: tuple[Bar, ...]
    x_labels: tuple[Label, ...]
    marks: tuple[Mark, ...]
    not_yet_x: float | None  # where the still-to-come part of the lesson starts
    legend: tuple[LegendItem, ...]


def _tick_step(top: int) -> int:
    """1, 2, 5, 10, 20, 50 ...: the smallest that gives at most six ticks."""
    step, scale = 1, 1
    while top // step > 5:
        for m in (2, 5, 10):
            step = m * scale
            if top // step <= 5:
                break
        scale *= 10
    return step


def _y(value: float, top: int) -> float:
    return TOP + PLOT_H - PLOT_H * value / top


def _x_of(moment: datetime, start: datetime, end: datetime) -> float | None:
    """The x of a moment on the lesson's time axis: a moment before the lesson is its start (a
    permission given beforehand holds from the first minute); None after the lesson."""
    if moment >= end:
        return None
    share = max((moment - start) / (end - start), 0.0)
    return LEFT + PLOT_W * share


def build_chart(
    timeline: Sequence[Mapping[str, Any]],
    *,
    lesson_start: datetime,
    lesson_end: datetime,
    now: datetime,
    devices_expected: int,
    categories: Sequence[str],
    labels: Mapping[str, str],
    permissions: Sequence[tuple[datetime, datetime | None, str]],
    tz: ZoneInfo,
    words: Words,
) -> Drawing:
    """The drawing of one lesson's timeline; ``categories`` is the policy's order (colours),
    ``permissions`` the (granted, withdrawn, what for) of the lesson's permissions."""
    seen = {row["category"] for b in timeline for row in b["categories"]}
    order = [*categories, *sorted(seen - set(categories))]
    colour = colours(order)
    stacked = [sum(r["devices"] or 0 for r in b["categories"]) for b in timeline]
    top = max([devices_expected, *stacked, 1])
    slot = PLOT_W / max(len(timeline), 1)
    bars: list[Bar] = []
    x_labels: list[Label] = []
    for i, bucket in enumerate(timeline):
        x = LEFT + i * slot + slot * 0.15
        base = _y(0, top)
        hidden = []
        for row in sorted(bucket["categories"], key=lambda r: order.index(r["category"])):
            name = labels.get(row["category"], row["category"])
            if row["devices"] is None:
                hidden.append(name)
                continue
            if not row["devices"]:
                continue
            h = PLOT_H * row["devices"] / top
            base -= h
            tip = f"{name}: {row['devices']}"
            bars.append(Bar(x, base, slot * 0.7, h, colour[row["category"]], tip))
        if hidden:
            tip = f"{', '.join(hidden)}: {words.fewer}"
            bars.append(Bar(x, base - BAND, slot * 0.7, BAND, "hatch", tip))
        if i % 2 == 0 or len(timeline) <= 8:
            start = parse_time(bucket["start"], "start").astimezone(tz)
            x_labels.append(Label(LEFT + i * slot + slot / 2, X_LABEL_Y, f"{start:%H:%M}"))
    marks: list[Mark] = []
    for granted, withdrawn, what in permissions:
        x_granted = _x_of(granted, lesson_start, lesson_end)
        if x_granted is not None:
            marks.append(Mark(x_granted, "granted", f"{words.granted}: {what}"))
        x_withdrawn = None if withdrawn is None else _x_of(withdrawn, lesson_start, lesson_end)
        if x_withdrawn is not None:
            marks.append(Mark(x_withdrawn, "withdrawn", f"{words.withdrawn}: {what}"))
    counted = {r["category"] for b in timeline for r in b["categories"] if r["devices"]}
    legend = [LegendItem(colour[c], labels.get(c, c)) for c in order if c in counted]
    if any(b.fill == "hatch" for b in bars):
        legend.append(LegendItem("hatch", words.fewer))
    return Drawing(
        words=words,
        y_top=top,
        y_ticks=tuple(
            Label(LEFT - 6, _y(v, top), str(v)) for v in range(0, top + 1, _tick_step(top))
        ),
        expected_y=_y(devices_expected, top) if devices_expected else None,
        bars=tuple(bars),
        x_labels=tuple(x_labels),
        marks=tuple(marks),
        not_yet_x=_x_of(now, lesson_start, lesson_end),
        legend=tuple(legend),
    )


def _fill(fill: str) -> str:
    return "url(#hatch)" if fill == "hatch" else fill


def render_svg(d: Drawing) -> str:
    """The drawing as SVG markup, every text escaped."""
    w = d.words
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title chart-desc" class="chart" id="lesson-chart">',
        f'<title id="chart-title">{escape(w.title)}</title>',
        f'<desc id="chart-desc">{escape(w.desc)}</desc>',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f3"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#6b7580" stroke-width="2"/></pattern></defs>',
    ]
    if d.not_yet_x is not None:
        x = d.not_yet_x
        out.append(
            f'<rect x="{x:.1f}" y="{TOP}" width="{WIDTH - RIGHT - x:.1f}" height="{PLOT_H}" '
            f'class="not-yet"/><text x="{x + 4:.1f}" y="{TOP + 12}" class="not-yet-label">'
            f"{escape(w.not_yet)}</text>"
        )
    for tick in d.y_ticks:
        out.append(
            f'<line x1="{LEFT}" y1="{tick.y:.1f}" x2="{WIDTH - RIGHT}" y2="{tick.y:.1f}" '
            f'class="grid"/><text x="{tick.x}" y="{tick.y + 4:.1f}" text-anchor="end" '
            f'class="tick">{escape(tick.text)}</text>'
        )
    if d.expected_y is not None:
        y = d.expected_y
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="expected"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{y + 12:.1f}" text-anchor="end" '
            f'class="expected-label">{escape(w.expected)}</text>'
        )
    out.append(
        f'<text x="12" y="{TOP + PLOT_H / 2:.1f}" transform="rotate(-90 12 {TOP + PLOT_H / 2:.1f})"'
        f' text-anchor="middle" class="axis-label">{escape(w.axis_devices)}</text>'
    )
    for bar in d.bars:
        kind = ' class="fewer"' if bar.fill == "hatch" else ""
        out.append(
            f'<rect x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" '
            f'height="{bar.height:.1f}" fill="{_fill(bar.fill)}"{kind}>'
            f"<title>{escape(bar.tip)}</title></rect>"
        )
    for label in d.x_labels:
        out.append(
            f'<text x="{label.x:.1f}" y="{label.y}" text-anchor="middle" class="tick">'
            f"{escape(label.text)}</text>"
        )
    for mark in d.marks:
        # A mark in the right half gets its label to its left, so the label stays in the chart.
        left = mark.x > LEFT + PLOT_W / 2
        at, anchor = (mark.x - 3, "end") if left else (mark.x + 3, "start")
        out.append(
            f'<line x1="{mark.x:.1f}" y1="{TOP - 4}" x2="{mark.x:.1f}" y2="{TOP + PLOT_H}" '
            f'class="mark {mark.kind}"/><text x="{at:.1f}" y="{TOP - 8}" text-anchor="{anchor}" '
            f'class="mark-label {mark.kind}">{escape(mark.text)}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{WIDTH - RIGHT}" y2="{TOP + PLOT_H}" '
        'class="axis"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" class="axis"/>'
    )
    x = LEFT
    for item in d.legend:
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 18}" width="12" height="12" fill="{_fill(item.fill)}"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 8}" class="legend">{escape(item.text)}</text>'
        )
        x += 28 + 7 * len(item.text)
    out.append("</svg>")
    return "".join(out)


def table_rows(
    timeline: Sequence[Mapping[str, Any]],
    *,
    categories: Sequence[str],
    fewer: str,
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    """The chart's data for a table beside it (screen readers, and anyone who wants the
    numbers): per bucket its local time and per category the count or "fewer than N"."""
    rows = []
    for bucket in timeline:
        by_cat = {r["category"]: r["devices"] for r in bucket["categories"]}
        cells = [
            "–" if c not in by_cat else fewer if by_cat[c] is None else str(by_cat[c])
            for c in categories
        ]
        start = parse_time(bucket["start"], "start")
        rows.append({"time": localtime.clock(start, tz), "cells": cells})
    return rows
