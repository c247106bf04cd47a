"""The evaluation report: one self-contained HTML file per as-of date and language, from the published file.

`build_report` is what `kam report` and the `evaluation_report` asset call. The package
has no Dagster import: data.py reads, findings.py concludes, narrative.py and i18n.py
word it in English or Chinese, charts.py draws, render.py assembles the HTML.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from kam_pipeline.report.data import ReportData, ReportError, load
from kam_pipeline.report.i18n import LANGS
from kam_pipeline.scoring.model import ScoringModel, load_model
from kam_pipeline.warehouse.files import atomic_path

__all__ = ["LANGS", "ReportError", "ReportResult", "build_report", "default_report_path"]


@dataclass(frozen=True)
class ReportResult:
    """Where the report was written, for which snapshot, and the data it was built from."""

    path: Path
    as_of: dt.date
    lang: str
    bytes: int
    data: ReportData


def default_report_path(db_path: str | Path, as_of: dt.date, lang: str) -> Path:
    """`<db dir>/reports/<db name>_report_<as_of>_<lang>.html` (`kam_report_...` for `kam.duckdb`): two
    databases in one folder keep their own reports."""
    db_path = Path(db_path)
    return db_path.parent / "reports" / f"{db_path.stem}_report_{as_of.isoformat()}_{lang}.html"


def build_report(
    db_path: str | Path,
    out: str | Path | None = None,
    as_of: dt.date | None = None,
    lang: str = "en",
    model: ScoringModel | str | Path | None = None,
    data: ReportData | None = None,
) -> ReportResult:
    """Write the report of snapshot `as_of` (default: the latest) in `lang`; return where and what.

    `model` gives the labels, targets and alert rules (default: the shipped model). The file is
    written next to its final name and renamed, so a reader never opens half a report.
    """
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r} (choose {', '.join(LANGS)})")
    if not isinstance(model, ScoringModel):
        model = load_model(model)
    data = data if data is not None and (as_of is None or data.as_of == as_of) else load(db_path, as_of, model)
    # Rendering needs matplotlib's figures (about a second to import): imported here, so that the
    # pipeline's definitions, which read report.data and report.metadata, do not import it.
    from kam_pipeline.report.render import render_report

    html = render_report(data, model, lang)
    out = Path(out) if out else default_report_path(db_path, data.as_of, lang)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return ReportResult(path=out, as_of=data.as_of, lang=lang, bytes=out.stat().st_size, data=data)
