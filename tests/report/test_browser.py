"""The report as a reader sees it: rendered by a real headless Chromium (Debian's package, installed by .ci/run)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html import escape
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from conftest import AS_OF
from kam_pipeline.report import default_report_path
from kam_pipeline.report.charts import GRADE_COLORS, GROUP_COLORS, SERIES_COLORS
from kam_pipeline.report.i18n import LANGS, t

pytestmark = pytest.mark.integration

CHARTS = ("ranking", "grades", "breakdown", "trend-top", "trend-risk")
WIDTH, HEIGHT = 1280, 9000


def _chromium_binary() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        pytest.fail(
            "chromium is not installed: `make test` installs Debian's chromium package as root; "
            "otherwise apt-get install chromium"
        )
    return found


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]
    done = subprocess.run([_chromium_binary(), *flags, *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _near(image: np.ndarray, rgb: list[int], tolerance: int) -> np.ndarray:
    """Mask of the pixels within `tolerance` of `rgb` on every channel (`image` as int16)."""
    mask = np.ones(image.shape[:2], dtype=bool)
    for channel, value in enumerate(rgb):
        mask &= np.abs(image[..., channel] - value) <= tolerance
    return mask


def _pixels_near(image: np.ndarray, hex_color: str, tolerance: int = 8) -> int:
    return int(_near(image, [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], tolerance).sum())


@pytest.mark.parametrize("lang", LANGS)
def test_chromium_draws_the_charts(pipeline_db, tmp_path, lang):
    url = default_report_path(pipeline_db, AS_OF, lang).resolve().as_uri()
    shot = tmp_path / "report.png"
    _chromium([f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url], tmp_path / "profile-shot")
    image = np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)
    assert image.shape[:2] == (HEIGHT, WIDTH)

    # not blank: plenty of ink that is neither the page nor the background colour
    background = _near(image, [255, 255, 255], 4) | _near(image, [246, 247, 249], 4)
    assert (~background).mean() > 0.04
    packed = (image[..., 0].astype(np.int32) << 16) | (image[..., 1].astype(np.int32) << 8) | image[..., 2]
    assert len(np.unique(packed)) > 200

    # the charts are drawn: bars and donut wedges in the grade colours, the breakdown in the
    # perspective colours, the first trend lines in the series colours
    grades = [g for g in ("A", "B", "C", "D") if _pixels_near(image, GRADE_COLORS[g]) > 300]
    assert len(grades) >= 3, grades
    for color in GROUP_COLORS[:4]:
        assert _pixels_near(image, color) > 300, color
    for color in SERIES_COLORS[:2]:
        assert _pixels_near(image, color) > 100, color


@pytest.mark.parametrize("lang", LANGS)
def test_chromium_parses_every_chart_as_svg(pipeline_db, tmp_path, lang):
    url = default_report_path(pipeline_db, AS_OF, lang).resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile-dom").stdout
    # ... and the revenue bridge's waterfalls: the portfolio's and one per segment.
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        segments = conn.execute(
            "select entity_id from marts.revenue_bridge where as_of_date = ? and level = 'segment'", [AS_OF]
        ).fetchall()
    charts = [*CHARTS, "bridge", *(f"bridge-{s}" for (s,) in segments)]
    assert dom.count('class="chart-svg"') == len(charts)
    for name in charts:
        assert f'data-chart="{name}"' in dom
    assert dom.count("<path") > 100  # bars, wedges, lines and markers
    assert dom.count("<text") > 50  # labels stay text (svg.fonttype none)


def _ink(image: np.ndarray) -> np.ndarray:
    """Boolean mask of the dark pixels (text) of a screenshot."""
    return image.mean(axis=2) < 128


def _font_stack(html: str) -> str:
    found = re.search(r"body \{[^}]*font-family: ([^;]+);", html)
    assert found, "the report's CSS sets no body font-family"
    return found.group(1)


def _glyph_page(text: str, fonts: str) -> str:
    # One line of large text, in the report's own font stack, nothing else on the page.
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><style>body {{ margin: 0; background: #fff; '
        f"font-family: {fonts}; }} p {{ margin: 8px; font-size: 64px; line-height: 1; color: #000; white-space: nowrap; }}"
        f"</style></head><body><p>{escape(text)}</p></body></html>"
    )


def _shoot(html: str, tmp_path: Path, name: str) -> np.ndarray:
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    _chromium([f"--screenshot={shot}", "--window-size=1000,400", page.resolve().as_uri()], tmp_path / f"profile-{name}")
    return np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)


# A private-use code point: no font draws it, so it renders as the missing-glyph box (tofu).
TOFU = "\ue000"


def test_chinese_text_renders_as_glyphs_not_missing_glyph_boxes(pipeline_db, tmp_path):
    """Without a CJK font every Chinese character is the same box: the title would equal a row of tofu."""
    html = default_report_path(pipeline_db, AS_OF, "zh").read_text(encoding="utf-8")
    fonts = _font_stack(html)
    for family in ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC"):
        assert f'"{family}"' in fonts, family
    title = t("zh", "title")
    assert f"<h1>{title}</h1>" in html
    chinese = _ink(_shoot(_glyph_page(title, fonts), tmp_path, "title"))
    boxes = _ink(_shoot(_glyph_page(TOFU * len(title), fonts), tmp_path, "tofu"))
    assert chinese.sum() > 500  # the title is drawn at all
    # as glyphs: not the same picture as the same number of missing-glyph boxes
    assert (chinese ^ boxes).mean() > 0.01, "Chinese text renders as missing-glyph boxes: install fonts-noto-cjk"
    # and two different characters look different (all tofu boxes are alike)
    first = _ink(_shoot(_glyph_page("客" * 6, fonts), tmp_path, "ke"))
    second = _ink(_shoot(_glyph_page("户" * 6, fonts), tmp_path, "hu"))
    assert first.sum() > 100 and second.sum() > 100
    assert (first ^ second).mean() > 0.01, "two different Chinese characters render alike: missing-glyph boxes"
