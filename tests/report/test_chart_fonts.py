"""matplotlib measures the charts' Chinese labels with a real CJK font, not DejaVu's missing-glyph boxes.

The machine needs a font with Chinese glyphs: `make test` installs Debian's fonts-noto-cjk.
"""

from __future__ import annotations

import io
import warnings

import matplotlib as mpl
import polars as pl
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure

from kam_pipeline.report import charts

LABEL = "关键客户绩效评估：财务、客户、内部流程、学习与成长"


def _cjk_family() -> str:
    found = [f for f in charts.font_family() if f in charts.CJK_FONTS]
    if not found:
        pytest.fail(
            "matplotlib finds no CJK font of charts.CJK_FONTS: `make test` installs Debian's fonts-noto-cjk "
            "as root; otherwise apt-get install fonts-noto-cjk"
        )
    return found[0]


def _missing_glyph_warnings(family: list[str]) -> list[str]:
    """Draw LABEL with the charts' style and `family`; return matplotlib's missing-glyph warnings."""
    with mpl.rc_context({**charts._style(), "font.family": family}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure(figsize=(4, 1))
        fig.text(0.01, 0.5, LABEL)
        fig.savefig(io.StringIO(), format="svg")
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_matplotlib_finds_the_configured_cjk_font():
    family = _cjk_family()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    # the file found holds that family (not DejaVu standing in for it)
    assert any(f.fname == path and f.name == family for f in font_manager.fontManager.ttflist), path


def test_a_chinese_label_draws_without_missing_glyphs():
    _cjk_family()
    assert _missing_glyph_warnings(charts.font_family()) == []
    # the check can fail: DejaVu Sans alone has no Chinese glyph
    assert _missing_glyph_warnings(["DejaVu Sans"])


def test_the_chart_svg_names_the_cjk_font_for_the_browser():
    family = _cjk_family()
    points = pl.DataFrame({"account_id": ["A1"], "group": ["financial"], "points": [40.0]})
    svg = charts.breakdown_chart(
        points, [("A1", "1. A1 华南鼎盛能源有限公司")], [("financial", "财务")], "各维度得分构成（分）", "分"
    )
    assert "华南鼎盛能源有限公司" in svg and f"'{family}'" in svg


def test_a_font_cache_older_than_the_cjk_font_is_rescanned(monkeypatch):
    # As on a machine where matplotlib cached its font list before `make test` installed the CJK font.
    family = _cjk_family()
    manager = font_manager.fontManager
    monkeypatch.setattr(
        manager, "ttflist", [f for f in manager.ttflist if "CJK" not in f.name and f.name not in charts.CJK_FONTS]
    )
    charts.font_family.cache_clear()
    try:
        assert family in charts.font_family()
    finally:
        charts.font_family.cache_clear()
