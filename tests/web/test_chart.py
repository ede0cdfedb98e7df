"""The lesson chart as a drawing (service.web.chart): data in, positions and texts out.

Each table row is one behaviour the issue asked for: small counts as a thin band that does not
count on the axis, the axis to the devices expected, the permission's marks, "not yet" while the
lesson runs; and the SVG escapes whatever a label holds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.web import chart
from service.web.i18n import translator
from service.web.pages.report import chart_summary, missing_text, still_reporting

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam
END = START + timedelta(minutes=50)
AFTER = END + timedelta(hours=1)
WORDS = chart.Words(
    title="chart",
    desc="summary",
    axis_devices="devices",
    fewer="fewer than 3",
    expected="expected",
    granted="permission",
    withdrawn="withdrawn",
    not_yet="not yet",
)
SOCIAL, VIDEO = "social_media", "video_streaming"


def _timeline(*buckets: dict[str, int | None]) -> list[dict[str, Any]]:
    return [
        {
            "start": (START + timedelta(minutes=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "categories": [
                {"category": c, "devices": n, "seconds": None if n is None else 60}
                for c, n in sorted(bucket.items())
            ],
        }
        for i, bucket in enumerate(buckets)
    ]


def _draw(
    timeline: list[dict[str, Any]],
    *,
    expected: int = 24,
    now: datetime = AFTER,
    permissions: tuple[tuple[datetime, datetime | None, str], ...] = (),
    labels: dict[str, str] | None = None,
) -> chart.Drawing:
    return chart.build_chart(
        timeline,
        lesson_start=START,
        lesson_end=END,
        now=now,
        devices_expected=expected,
        categories=[SOCIAL, VIDEO],
        labels=labels or {SOCIAL: "social media", VIDEO: "video"},
        permissions=permissions,
        tz=ZoneInfo("Europe/Amsterdam"),
        words=WORDS,
    )


def _height(d: chart.Drawing, value: int) -> float:
    return chart.PLOT_H * value / d.y_top


@pytest.mark.parametrize(
    ("buckets", "bars"),
    [
        # A hidden count is one thin band, the same height however few it hides.
        (({SOCIAL: None},), [("hatch", chart.BAND)]),
        # Counted bars stack; the band of the hidden ones sits on top, once per bucket.
        (({SOCIAL: 6, VIDEO: None},), [("#3b6ea5", 6), ("hatch", chart.BAND)]),
        (({SOCIAL: None, VIDEO: None},), [("hatch", chart.BAND)]),
        # Zero devices draw nothing.
        (({SOCIAL: 0},), []),
        # Each category keeps its policy colour whichever appears.
        (({VIDEO: 4},), [("#d9822b", 4)]),
    ],
)
def test_bars_and_the_band_of_small_counts(
    buckets: tuple[dict[str, int | None], ...], bars: list[tuple[str, float]]
) -> None:
    d = _draw(_timeline(*buckets))
    want = [(fill, h if fill == "hatch" else _height(d, int(h))) for fill, h in bars]
    assert [(b.fill, pytest.approx(b.height)) for b in d.bars] == want


def test_a_hidden_count_neither_raises_the_axis_nor_names_a_number() -> None:
    d = _draw(_timeline({SOCIAL: None}, {SOCIAL: None}), expected=4)
    assert d.y_top == 4
    assert all(b.tip == "social media: fewer than 3" for b in d.bars)
    assert [i.text for i in d.legend] == ["fewer than 3"]


@pytest.mark.parametrize(
    ("expected", "buckets", "top", "ticks"),
    [
        (24, ({SOCIAL: 5},), 24, ["0", "5", "10", "15", "20"]),
        (8, ({SOCIAL: 3},), 8, ["0", "2", "4", "6", "8"]),
        # A device may count in two categories at once: the stack may pass the class size.
        (8, ({SOCIAL: 6, VIDEO: 5},), 11, ["0", "2", "4", "6", "8", "10"]),
        # No device enrolled: the axis is the data's.
        (0, ({SOCIAL: 3},), 3, ["0", "1", "2", "3"]),
        (0, ({SOCIAL: None},), 1, ["0", "1"]),
        (120, ({SOCIAL: 30},), 120, ["0", "50", "100"]),
    ],
)
def test_the_y_axis_runs_to_the_devices_expected(
    expected: int, buckets: tuple[dict[str, int | None], ...], top: int, ticks: list[str]
) -> None:
    d = _draw(_timeline(*buckets), expected=expected)
    assert d.y_top == top
    assert [t.text for t in d.y_ticks] == ticks
    assert (d.expected_y is None) == (expected == 0)


@pytest.mark.parametrize(
    ("granted", "withdrawn", "marks"),
    [
        # Halfway through the 50-minute lesson: halfway along the plot.
        (START + timedelta(minutes=25), None, [("granted", 0.5)]),
        # Given before the lesson: it holds from the first minute.
        (START - timedelta(hours=2), None, [("granted", 0.0)]),
        (
            START + timedelta(minutes=10),
            START + timedelta(minutes=40),
            [("granted", 0.2), ("withdrawn", 0.8)],
        ),
        # Withdrawn after the lesson: no mark beyond its end.
        (START + timedelta(minutes=10), END + timedelta(minutes=5), [("granted", 0.2)]),
    ],
)
def test_the_permission_is_marked_where_it_started_and_ended(
    granted: datetime, withdrawn: datetime | None, marks: list[tuple[str, float]]
) -> None:
    d = _draw(_timeline({SOCIAL: 5}), permissions=((granted, withdrawn, "social media"),))
    want = [(kind, pytest.approx(chart.LEFT + chart.PLOT_W * share)) for kind, share in marks]
    assert [(m.kind, m.x) for m in d.marks] == want


@pytest.mark.parametrize(
    ("now", "share"),
    [
        (START - timedelta(minutes=5), 0.0),  # not begun: all of it is still to come
        (START + timedelta(minutes=10), 0.2),
        (END, None),
        (AFTER, None),
    ],
)
def test_the_part_of_the_lesson_still_to_come_is_shaded(now: datetime, share: float | None) -> None:
    d = _draw(_timeline({SOCIAL: 5}), now=now)
    want = None if share is None else pytest.approx(chart.LEFT + chart.PLOT_W * share)
    assert d.not_yet_x == want


@pytest.mark.parametrize(
    ("now", "spread", "waiting", "text"),
    [
        (START + timedelta(minutes=20), 120, True, "5 apparaten hebben nog niet gerapporteerd"),
        (END + timedelta(seconds=119), 120, True, "5 apparaten hebben nog niet gerapporteerd"),
        (END + timedelta(seconds=120), 120, False, "5 apparaten rapporteerden niet"),
        (END, 0, False, "5 apparaten rapporteerden niet"),
    ],
)
def test_a_device_not_reported_during_the_lesson_is_not_yet_a_failure(
    now: datetime, spread: int, waiting: bool, text: str
) -> None:
    assert still_reporting(END, spread, now) is waiting
    assert missing_text(5, waiting=waiting, t=translator("nl")) == text


@pytest.mark.parametrize(
    ("waiting", "withdrawn", "tail"),
    [
        (True, None, "Toestemming voor sociale media vanaf 09:10. De les loopt nog"),
        (False, START + timedelta(minutes=40), "vanaf 09:10. Ingetrokken om 09:40."),
    ],
)
def test_the_description_says_in_sentences_what_the_chart_shows(
    waiting: bool, withdrawn: datetime | None, tail: str
) -> None:
    report = {
        "devices_expected": 24,
        "devices_reporting": 20,
        "suppressed_below": 3,
        "timeline": _timeline({SOCIAL: 5, VIDEO: 3}, {SOCIAL: None}),
    }
    text = chart_summary(
        report,
        waiting=waiting,
        permissions=[(START + timedelta(minutes=10), withdrawn, "sociale media")],
        tz=ZoneInfo("Europe/Amsterdam"),
        t=translator("nl"),
    )
    assert text.startswith("20 van 24 apparaten rapporteerden. Hoogstens 8 apparaten")
    assert "onder 3 apparaten is getekend als een dunne gearceerde strook" in text
    assert tail in text


def test_the_svg_has_a_title_a_description_and_the_marks() -> None:
    d = _draw(
        _timeline({SOCIAL: 5}, {SOCIAL: None}),
        now=START + timedelta(minutes=7),
        permissions=((START + timedelta(minutes=5), None, "social media"),),
    )
    svg = chart.render_svg(d)
    assert 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<desc id="chart-desc">summary</desc>' in svg
    assert 'class="mark granted"' in svg and 'class="not-yet"' in svg
    assert ">permission: social media<" in svg
    assert svg.count('class="fewer"') == 1 and ">09:00<" in svg


def test_the_table_beside_the_chart_holds_its_numbers() -> None:
    rows = chart.table_rows(
        _timeline({SOCIAL: 5}, {SOCIAL: None, VIDEO: 3}),
        categories=[SOCIAL, VIDEO],
        fewer="<3",
        tz=ZoneInfo("Europe/Amsterdam"),
    )
    assert rows == [
        {"time": "09:00", "cells": ["5", "–"]},
        {"time": "09:05", "cells": ["<3", "3"]},
    ]


@given(st.text(min_size=1, max_size=40))
def test_chart_escapes_every_label(label: str) -> None:
    """Whatever a category label holds, it cannot open a tag inside the SVG."""
    d = _draw(_timeline({SOCIAL: 5, VIDEO: None}), labels={SOCIAL: label, VIDEO: label})
    body = chart.render_svg(d).split("</defs>", 1)[1]
    assert set(re.findall(r"<(/?[a-z]+)", body)) <= {
        "line",
        "text",
        "/text",
        "rect",
        "/rect",
        "title",
        "/title",
        "/svg",
    }
