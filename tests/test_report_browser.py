"""The report as a reader sees it: rendered by a real headless Chromium (Debian's package, installed by .ci/run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import AS_OF
from kam_pipeline.report import default_report_path
from kam_pipeline.report.charts import GRADE_COLORS, GROUP_COLORS, SERIES_COLORS
from kam_pipeline.report.i18n import LANGS

pytestmark = pytest.mark.integration

CHARTS = ("ranking", "grades", "breakdown", "trend-top", "trend-risk")
WIDTH, HEIGHT = 1280, 9000


def _chromium_binary() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium package as root; "
                    "otherwise apt-get install chromium")
    return found


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--hide-scrollbars", "--force-device-scale-factor=1",
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
    return int(_near(image, [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], tolerance).sum())


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
    assert dom.count('class="chart-svg"') == len(CHARTS)
    for name in CHARTS:
        assert f'data-chart="{name}"' in dom
    assert dom.count("<path") > 100  # bars, wedges, lines and markers
    assert dom.count("<text") > 50  # labels stay text (svg.fonttype none)
