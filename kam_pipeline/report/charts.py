"""The report's charts, drawn by matplotlib and returned as inline SVG text.

`svg.fonttype: none` keeps every label as SVG text, so Chinese names are drawn by the
browser's own fonts and the file needs no embedded or downloaded font. matplotlib only
measures the text for the layout, with the first CJK font of CJK_FONTS it finds (Debian's
fonts-noto-cjk, which `make test` installs); on a machine without one it measures with
DejaVu (its missing-glyph warnings are then expected and silenced).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
from collections.abc import Sequence
from functools import cache
from html import escape

import matplotlib as mpl
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

GRADE_COLORS = {"A": "#1a9850", "B": "#91cf60", "C": "#fdae61", "D": "#d73027", "insufficient_data": "#bdbdbd"}
SERIES_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
GROUP_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"]
# Fonts with Chinese glyphs, in order of preference: Debian's fonts-noto-cjk (installed by `make test`),
# Adobe's name for the same design, then what Windows, macOS and other Linux systems ship.
CJK_FONTS = [
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimHei",
]
LATIN_FONTS = ["Segoe UI", "Helvetica Neue", "Arial"]
_TEXT = "#333333"
# Dates labelled under a trend chart: more would overlap (a quarter of daily snapshots is 90).
TREND_TICKS = 8
# The margin around a chart's drawn content, in inches.
PAD_INCHES = 0.05


def css_font_stack(lang: str) -> str:
    """The report's CSS font-family list: system fonts only (the file embeds none), CJK first in Chinese."""
    families = [*CJK_FONTS, *LATIN_FONTS] if lang == "zh" else [*LATIN_FONTS, *CJK_FONTS]
    return ", ".join([*(f'"{f}"' for f in families), "sans-serif"])


@cache
def font_family() -> list[str]:
    """matplotlib's font.family: DejaVu Sans, then every CJK font of CJK_FONTS it can find (its glyph fallback)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    known = {f.name for f in manager.ttflist}
    if not known.intersection(CJK_FONTS):
        # matplotlib's font cache can predate a CJK font installed later (`make test` installs one):
        # add the system's font files the cache does not hold, for this process.
        listed = {f.fname for f in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in listed:
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue  # a file FreeType cannot read is no font for the charts
        known = {f.name for f in manager.ttflist}
    # Only fonts matplotlib can find (it logs a warning for every missing family it is given).
    return ["DejaVu Sans", *[f for f in CJK_FONTS if f in known]]


def grade_color(grade: str, index: int = 0) -> str:
    """The color of a grade band (custom bands take the series palette)."""
    return GRADE_COLORS.get(grade, SERIES_COLORS[index % len(SERIES_COLORS)])


def _style() -> dict[str, object]:
    return {
        "svg.fonttype": "none",
        "font.family": font_family(),
        "font.size": 9,
        "axes.edgecolor": "#999999",
        "axes.labelcolor": _TEXT,
        "xtick.color": _TEXT,
        "ytick.color": _TEXT,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _svg(fig: Figure, name: str, title: str) -> str:
    """Serialise a figure to an inline <svg> element (no XML prolog, no metadata, stable ids), cropped to
    its drawn content plus PAD_INCHES, as savefig's bbox_inches="tight" crops it.

    savefig's "tight" draws the figure twice, once to measure what it holds and once to write it (about
    30 % of a chart's time); here the one drawing that writes it also measures it (at its draw_event, with
    the figure at the SVG's 72 dpi), and the crop is the root element's viewBox: the same picture.
    """
    buffer = io.StringIO()
    boxes = []
    measure = fig.canvas.mpl_connect("draw_event", lambda event: boxes.append(fig.get_tightbbox(event.renderer)))
    with mpl.rc_context({**_style(), "svg.hashsalt": f"kam-{name}"}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    fig.canvas.mpl_disconnect(measure)
    box = boxes[-1].padded(PAD_INCHES)  # inches, from the figure's bottom left; SVG's y runs down
    x, y, width, height = (72 * v for v in (box.x0, fig.get_figheight() - box.y1, box.width, box.height))
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(
        r'width="[^"]*" height="[^"]*" viewBox="[^"]*"',
        f'width="{_number(width)}pt" height="{_number(height)}pt" '
        f'viewBox="{_number(x)} {_number(y)} {_number(width)} {_number(height)}"',
        text,
        count=1,
    )
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return text.replace(
        "<svg ", f'<svg class="chart-svg" data-chart="{name}" role="img" aria-label="{escape(title)}" ', 1
    )


def _number(value: float) -> str:
    """A length of the SVG's root element as matplotlib writes them: six decimals, no trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _figure(width: float, height: float) -> Figure:
    with mpl.rc_context(_style()):
        return Figure(figsize=(width, height))


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ranking_chart(scores: pl.DataFrame, title: str, key_note: str, n: int = 15) -> str:
    """Horizontal bars of the top `n` scores, colored by grade; key accounts marked with a star."""
    top = scores.filter(pl.col("score").is_not_null()).sort(["rank", "account_id"]).head(n).reverse()
    names = [
        f"{'★ ' if r['is_key_account'] else ''}{_short(r['account_id'] + ' ' + (r['account_name'] or ''))}"
        for r in top.iter_rows(named=True)
    ]
    with mpl.rc_context(_style()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = _figure(7.2, 0.32 * max(top.height, 3) + 0.9)
        ax = fig.subplots()
        values = top.get_column("score").to_list()
        bars = ax.barh(
            range(top.height),
            values,
            color=[grade_color(g) for g in top.get_column("grade")],
            height=0.7,
            edgecolor="white",
        )
        ax.set_yticks(range(top.height), names)
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=3, fontsize=8, color=_TEXT)
        ax.set_xlim(0, 105)
        ax.set_title(title, loc="left", fontsize=11, color=_TEXT)
        ax.text(1.0, 1.02, key_note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="#666666")
        return _svg(fig, "ranking", title)


def grade_donut(counts: Sequence[tuple[str, int]], names: dict[str, str], title: str, total_label: str) -> str:
    """A donut of accounts per grade, with the total in the middle."""
    with mpl.rc_context(_style()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = _figure(4.6, 3.4)
        ax = fig.subplots()
        values = [n for _, n in counts]
        wedges, _texts = ax.pie(
            values,
            colors=[grade_color(g, i) for i, (g, _) in enumerate(counts)],
            startangle=90,
            counterclock=False,
            wedgeprops={"width": 0.38, "edgecolor": "white"},
        )
        ax.text(0, 0.08, f"{sum(values)}", ha="center", va="center", fontsize=18, color=_TEXT)
        ax.text(0, -0.2, total_label, ha="center", va="center", fontsize=8, color="#666666")
        ax.legend(
            wedges,
            [f"{names.get(g, g)}: {n}" for g, n in counts],
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
        )
        ax.set_title(title, loc="left", fontsize=11, color=_TEXT)
        ax.set_aspect("equal")
        return _svg(fig, "grades", title)


def trend_chart(history: pl.DataFrame, accounts: Sequence[tuple[str, str]], title: str, axis: str, name: str) -> str:
    """Score lines over the snapshots of `history`, one per account of `accounts` ((id, label) pairs);
    at most TREND_TICKS dates labelled."""
    with mpl.rc_context(_style()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = _figure(7.2, 3.2)
        ax = fig.subplots()
        dates: set[dt.date] = set()
        for i, (account_id, label) in enumerate(accounts):
            series = history.filter((pl.col("account_id") == account_id) & pl.col("score").is_not_null()).sort(
                "as_of_date"
            )
            xs = series.get_column("as_of_date").to_list()
            dates.update(xs)
            ax.plot(
                xs,
                series.get_column("score").to_list(),
                # A marker per snapshot while they can be told apart (a month of daily runs).
                marker="o" if len(xs) <= 31 else None,
                markersize=4,
                linewidth=1.8,
                color=SERIES_COLORS[i % len(SERIES_COLORS)],
                label=_short(label, 28),
            )
        ticks = _spread(sorted(dates), TREND_TICKS)
        ax.set_xticks(ticks, [d.isoformat() for d in ticks], rotation=30, ha="right")
        ax.set_ylim(0, 100)
        ax.set_ylabel(axis)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
        ax.set_title(title, loc="left", fontsize=11, color=_TEXT)
        return _svg(fig, name, title)


def _spread(dates: list[dt.date], n: int) -> list[dt.date]:
    """At most `n` of `dates`, evenly spaced, the first and the last among them."""
    if len(dates) <= n:
        return dates
    step = (len(dates) - 1) / (n - 1)
    return [dates[round(i * step)] for i in range(n)]


def breakdown_chart(
    points: pl.DataFrame,
    accounts: Sequence[tuple[str, str]],
    groups: Sequence[tuple[str, str]],
    title: str,
    axis: str,
    gap: tuple[int, str] | None = None,
) -> str:
    """Stacked bars: the points each group (perspective) adds to an account's score.

    `points` has account_id, group, points; `groups` is (group id, label) in model order;
    `accounts` are drawn top-down in the given order. `gap` = (position, label) draws an empty
    row with the label and a dashed line after the first `position` accounts (the ranks left out).
    """
    rows: list[tuple[str | None, str]] = [(a, _short(label, 28)) for a, label in accounts]
    if gap is not None:
        rows.insert(gap[0], (None, "⋯"))
    labels = [label for _, label in rows][::-1]
    ids = [a for a, _ in rows][::-1]
    with mpl.rc_context(_style()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = _figure(7.2, 0.34 * max(len(ids), 3) + 1.2)
        ax = fig.subplots()
        left = [0.0] * len(ids)
        lookup = {(r["account_id"], r["group"]): r["points"] for r in points.iter_rows(named=True)}
        for i, (group, label) in enumerate(groups):
            widths = [float(lookup.get((a, group)) or 0.0) for a in ids]
            ax.barh(
                range(len(ids)),
                widths,
                left=left,
                color=GROUP_COLORS[i % len(GROUP_COLORS)],
                label=label,
                height=0.7,
                edgecolor="white",
                linewidth=0.5,
            )
            left = [x + w for x, w in zip(left, widths, strict=True)]
        for y, total in enumerate(left):
            if ids[y] is not None:
                ax.text(total + 1, y, f"{total:.1f}", va="center", fontsize=8, color=_TEXT)
        if gap is not None:
            y = ids.index(None)
            for edge in (y - 0.5, y + 0.5):
                ax.axhline(edge, color="#999999", linewidth=0.8, linestyle=(0, (4, 3)))
            ax.text(2, y, gap[1], va="center", fontsize=8, color="#666666", style="italic")
        ax.set_yticks(range(len(ids)), labels)
        ax.set_xlim(0, 105)
        ax.set_xlabel(axis)
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18 if len(ids) > 6 else -0.3),
            ncol=len(groups),
            frameon=False,
            fontsize=8,
        )
        ax.set_title(title, loc="left", fontsize=11, color=_TEXT)
        return _svg(fig, "breakdown", title)


BRIDGE_UP, BRIDGE_DOWN, BRIDGE_TOTAL = "#59a14f", "#e15759", "#4e79a7"


def waterfall_chart(
    start: tuple[str, float], steps: Sequence[tuple[str, float]], end: tuple[str, float], title: str, name: str
) -> str:
    """A revenue bridge as a waterfall: the `start` total, each step floating from the running total
    (green up, red down), and the `end` total; each bar is labelled with its amount."""
    labels = [start[0], *(label for label, _ in steps), end[0]]
    bottoms, heights, colors = [0.0], [float(start[1])], [BRIDGE_TOTAL]
    running = float(start[1])
    for _, value in steps:
        value = float(value)
        bottoms.append(running if value >= 0 else running + value)
        heights.append(abs(value))
        colors.append(BRIDGE_UP if value >= 0 else BRIDGE_DOWN)
        running += value
    bottoms.append(0.0)
    heights.append(float(end[1]))
    colors.append(BRIDGE_TOTAL)
    amounts = [float(start[1]), *(float(v) for _, v in steps), float(end[1])]
    with mpl.rc_context(_style()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = _figure(7.2, 3.2)
        ax = fig.subplots()
        x = range(len(labels))
        ax.bar(x, heights, bottom=bottoms, color=colors, width=0.6, edgecolor="white", linewidth=0.5)
        top = max([b + h for b, h in zip(bottoms, heights, strict=True)] + [0.0])
        for i, (b, h, amount) in enumerate(zip(bottoms, heights, amounts, strict=True)):
            text = f"{amount:+,.0f}" if 0 < i < len(labels) - 1 else f"{amount:,.0f}"
            ax.text(i, b + h + top * 0.01, text, ha="center", va="bottom", fontsize=8, color=_TEXT)
        # The connectors between bars show where each step starts.
        level = float(start[1])
        for i, (_, value) in enumerate([*steps, ("", 0.0)]):
            ax.plot([i + 0.3, i + 0.7], [level, level], color="#999999", linewidth=0.6)
            level += float(value)
        ax.axhline(0, color="#999999", linewidth=0.6)
        ax.set_xticks(list(x), [_short(label, 18) for label in labels], fontsize=8)
        # Plain amounts with thousands separators, not matplotlib's "1e7" offset.
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.set_ylim(min([0.0, *bottoms]) * 1.05, top * 1.12 if top > 0 else 1.0)
        ax.set_title(title, loc="left", fontsize=11, color=_TEXT)
        return _svg(fig, name, title)
