"""A chart's SVG is cropped as matplotlib's own savefig(bbox_inches="tight") crops it, from one drawing.

The reference is matplotlib's tight output of the same chart: the same size, and every label at the
same place once the crop's origin (the viewBox) is taken off.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
from collections.abc import Callable

import matplotlib as mpl
import polars as pl
import pytest

from kam_pipeline.report import charts

ROOT = re.compile(r'<svg [^>]*?width="([\d.]+)pt" height="([\d.]+)pt" viewBox="([-\d. ]+)"')
LABEL = re.compile(r'<text [^>]*?x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]*)</text>')


def _tight(fig, name: str, title: str) -> str:
    """matplotlib's crop: savefig draws the figure to measure it, then again to write it."""
    buffer = io.StringIO()
    with mpl.rc_context({**charts._style(), "svg.hashsalt": f"kam-{name}"}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=charts.PAD_INCHES)
    return buffer.getvalue()


def _charts() -> dict[str, Callable[[], str]]:
    scores = pl.DataFrame(
        {
            "account_id": [f"A{i:03d}" for i in range(6)],
            "account_name": ["Keystone Machining Works", "南京宏达物流有限公司", "Atlas", "B", "C", "D"],
            "score": [91.0, 84.5, 70.2, 55.0, 41.3, 12.0],
            "rank": [1, 2, 3, 4, 5, 6],
            "grade": ["A", "A", "B", "C", "C", "D"],
            "is_key_account": [True, False, True, False, False, True],
        }
    )
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(40)]
    history = pl.DataFrame(
        {
            "as_of_date": days * 2,
            "account_id": ["A000"] * 40 + ["A001"] * 40,
            "score": [50 + d / 2 for d in range(40)] + [80 - d for d in range(40)],
        }
    )
    return {
        "ranking": lambda: charts.ranking_chart(scores, "Top accounts by score", "★ key account"),
        "donut": lambda: charts.grade_donut(
            [("A", 2), ("B", 1), ("C", 2), ("D", 1)], {"A": "优"}, "Grades", "accounts"
        ),
        "waterfall": lambda: charts.waterfall_chart(
            ("Revenue, previous year", 1_250_000.0),
            [("New accounts", 300_000.0), ("Churned accounts", -480_000.0), ("Price and volume", 25_000.0)],
            ("Revenue", 1_095_000.0),
            "收入桥 Revenue bridge",
            "bridge",
        ),
        "trend": lambda: charts.trend_chart(
            history, [("A000", "Keystone"), ("A001", "宏达物流")], "Trend", "score", "t"
        ),
    }


@pytest.mark.parametrize("chart", ["ranking", "donut", "waterfall", "trend"])
def test_the_crop_is_matplotlibs_tight_bounding_box(chart, monkeypatch):
    draw = _charts()[chart]
    ours = draw()
    monkeypatch.setattr(charts, "_svg", _tight)
    reference = draw()

    (width, height, box), (ref_width, ref_height, ref_box) = ROOT.search(ours).groups(), ROOT.search(reference).groups()
    assert float(width) == pytest.approx(float(ref_width), abs=0.01)
    assert float(height) == pytest.approx(float(ref_height), abs=0.01)
    x0, y0, box_width, box_height = map(float, box.split())
    assert (box_width, box_height) == pytest.approx((float(width), float(height)), abs=1e-6)
    assert ref_box.split()[:2] == ["0", "0"]
    assert (x0, y0) != (0.0, 0.0)  # every chart's labels reach past the figure's own margin

    labels, ref_labels = LABEL.findall(ours), LABEL.findall(reference)
    assert len(labels) == len(ref_labels) > 5
    for (x, y, text), (ref_x, ref_y, ref_text) in zip(labels, ref_labels, strict=True):
        assert text == ref_text
        assert float(x) - x0 == pytest.approx(float(ref_x), abs=0.01), text
        assert float(y) - y0 == pytest.approx(float(ref_y), abs=0.01), text


def test_the_figure_draws_once(monkeypatch):
    drawn = []
    original = charts.Figure.draw

    def counted(self, renderer):
        drawn.append(type(renderer).__name__)
        return original(self, renderer)

    monkeypatch.setattr(charts.Figure, "draw", counted)
    _charts()["waterfall"]()
    assert len(drawn) == 1
