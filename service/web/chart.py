"""The lesson timeline as an SVG drawn on the server: devices per category per 5-minute bucket.

Bars are stacked per bucket; a category counted on fewer devices than the school's threshold
is drawn as a hatched bar up to the threshold with the label "<N", so the chart reveals no more
than the table does. Every text is escaped here, because the template inserts the markup as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from policies.wire import parse_time

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56
PALETTE = ("#3b6ea5", "#d9822b", "#5a9e6f", "#a45aa5", "#c44e52", "#8c8c3a", "#4aa3a3", "#7a6f5c")


def colours(categories: Sequence[str]) -> dict[str, str]:
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(sorted(categories))}


def _ticks(top: int) -> list[int]:
    step = max(1, -(-top // 5))
    return list(range(0, top + 1, step))


def timeline_svg(
    timeline: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, str],
    devices_expected: int,
    threshold: int | None,
    tz: ZoneInfo,
    title: str,
    axis_devices: str,
    fewer_label: str,
) -> str:
    n = max(len(timeline), 1)
    cats = sorted({row["category"] for b in timeline for row in b["categories"]})
    colour = colours(cats)
    hidden = max((threshold or 1) - 1, 1)

    def height(row: Mapping[str, Any]) -> int:
        return hidden if row["devices"] is None else int(row["devices"])

    stacked = [sum(height(r) for r in b["categories"]) for b in timeline]
    top = max([devices_expected, *stacked, 1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f3"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#9aa3ad" stroke-width="2"/></pattern></defs>',
    ]
    for tick in _ticks(top):
        y = TOP + plot_h - plot_h * tick / top
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick}</text>'
        )
    out.append(
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})"'
        f' text-anchor="middle" class="axis-label">{escape(axis_devices)}</text>'
    )
    for i, bucket in enumerate(timeline):
        x = LEFT + i * slot + slot * 0.15
        base: float = TOP + plot_h
        for row in bucket["categories"]:
            h = plot_h * height(row) / top
            base -= h
            fill = "url(#hatch)" if row["devices"] is None else colour[row["category"]]
            count = f"<{threshold}" if row["devices"] is None else str(row["devices"])
            tip = f"{labels.get(row['category'], row['category'])}: {count}"
            out.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
        if i % 2 == 0 or n <= 8:
            start: datetime = parse_time(bucket["start"], "start").astimezone(tz)
            out.append(
                f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{TOP + plot_h + 16}" '
                f'text-anchor="middle" class="tick">{start:%H:%M}</text>'
            )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'class="axis"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" class="axis"/>'
    )
    x = LEFT
    for c in cats:
        label = escape(labels.get(c, c))
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 18}" width="12" height="12" fill="{colour[c]}"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 8}" class="legend">{label}</text>'
        )
        x += 28 + 7 * len(labels.get(c, c))
    if any(r["devices"] is None for b in timeline for r in b["categories"]):
        fewer = escape(fewer_label)
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 18}" width="12" height="12" fill="url(#hatch)"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 8}" class="legend">{fewer}</text>'
        )
    out.append("</svg>")
    return "".join(out)
