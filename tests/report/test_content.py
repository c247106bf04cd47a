"""The evaluation report built from the pipeline's published file: sections, numbers and sentences in both languages."""

from __future__ import annotations

import datetime as dt
import re
import string
import subprocess
import sys
from html.parser import HTMLParser

import duckdb
import pytest

from conftest import AS_OF
from kam_pipeline.report import build_report, default_report_path
from kam_pipeline.report.i18n import LANGS, STRINGS, t

pytestmark = pytest.mark.integration

SECTIONS = {
    "purpose": "sec_purpose",
    "method": "sec_method",
    "results": "sec_results",
    "quality": "sec_quality",
    "alerts": "sec_alerts",
    "conclusions": "sec_conclusions",
}


class _Outline(HTMLParser):
    """Section ids with their <h2> text, every table's rows as text cells, chart svgs, and all visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.charts: list[str] = []
        self.text: list[str] = []
        self._section: str | None = None
        self._in_h2 = False
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_svg = 0
        self._tables_seen = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs.get("id")
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "table":
            self._tables_seen += 1
            self._table = attrs.get("class") or f"table{self._tables_seen}"
            self.tables.setdefault(self._table, [])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "svg":
            self._in_svg += 1
            self.charts.append(attrs.get("data-chart", ""))

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "svg":
            self._in_svg -= 1

    def handle_data(self, data):
        if self._in_svg:
            return
        if self._in_h2 and self._section:
            self.sections[self._section] = self.sections.get(self._section, "") + data.strip()
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)

    @property
    def plain(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def _outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def reports(pipeline_db) -> dict[str, str]:
    """The HTML the pipeline's evaluation_report asset wrote next to the db, per language."""
    return {lang: default_report_path(pipeline_db, AS_OF, lang).read_text(encoding="utf-8") for lang in LANGS}


@pytest.fixture(scope="module")
def db(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        yield conn


def _rows(db, sql, params=None):
    return db.execute(sql, params or []).fetchall()


def test_every_string_exists_in_both_languages_with_the_same_placeholders():
    fields = string.Formatter()
    for key, texts in STRINGS.items():
        assert set(texts) == set(LANGS), key
        # A set: English may name a count twice (the noun and the verb agree with it, "1 of 3 key accounts misses").
        placeholders = {lang: {f for _, f, _, _ in fields.parse(texts[lang]) if f} for lang in LANGS}
        assert placeholders["en"] == placeholders["zh"], key


@pytest.mark.parametrize("lang", LANGS)
def test_sections_and_charts_in_both_languages(reports, lang):
    outline = _outline(reports[lang])
    for section, key in SECTIONS.items():
        assert outline.sections.get(section) == t(lang, key)
    assert {"ranking", "grades", "breakdown", "trend-top", "trend-risk"} <= set(outline.charts)
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in reports[lang]


def test_self_contained_no_script_no_external_resource(reports):
    for html in reports.values():
        lowered = html.lower()
        for needle in ("<script", "<link", "<img", "<iframe", "<object", "@import", "@font-face", " src="):
            assert needle not in lowered, needle
        # inline SVG refers to its own markers and clip paths (#id) only
        assert re.findall(r'href="([^"#][^"]*)"', lowered) == []
        assert re.findall(r"url\((?!#)([^)]*)\)", lowered) == []
        # no address anywhere, once the XML namespace names are set aside
        assert "http" not in re.sub(r'xmlns(:\w+)?="[^"]*"', "", lowered)


def test_the_chinese_report_has_no_english_headings(reports):
    text = _outline(reports["zh"]).plain
    for key in (
        "sec_purpose",
        "sec_method",
        "sec_results",
        "sec_quality",
        "sec_alerts",
        "sec_conclusions",
        "hierarchy",
        "consistency",
        "managers",
        "teams",
        "portfolio",
        "drops_heading",
        "targets_heading",
        "risks_heading",
        "actions_heading",
    ):
        assert t("en", key) not in text, key
        assert t("zh", key) in text, key
    header = _outline(reports["zh"]).tables["ranking"][0]
    assert header[:8] == [
        t("zh", k)
        for k in (
            "col_rank",
            "col_account",
            "col_segment",
            "col_score",
            "col_change",
            "col_grade",
            "col_key",
            "col_completeness",
        )
    ]
    assert header[8:] == ["财务", "客户", "内部流程", "学习与成长"]  # group labels from the model


@pytest.mark.parametrize("lang", LANGS)
def test_numbers_match_the_database(reports, db, lang):
    outline = _outline(reports[lang])
    scored, avg = _rows(db, "select count(score), avg(score) from marts.account_scores where as_of_date = ?", [AS_OF])[
        0
    ]
    key = _rows(db, "select count(*) from marts.account_scores where as_of_date = ? and is_key_account", [AS_OF])[0][0]
    cards = outline.plain
    assert f"{scored} {t(lang, 'card_accounts', n=scored)}" in cards
    assert f"{key} {t(lang, 'card_key_accounts', n=key)}" in cards
    assert f"{avg:.1f} {t(lang, 'card_avg_score')}" in cards

    ranking = outline.tables["ranking"]
    top = _rows(
        db,
        "select rank, account_id, account_name, score, grade from marts.account_scores "
        "where as_of_date = ? and score is not null order by rank, account_id limit 3",
        [AS_OF],
    )
    for row, (rank, account_id, name, score, _grade) in zip(ranking[1:4], top, strict=True):
        assert row[0] == str(rank)
        assert row[1] == f"{account_id} {name}"
        assert row[3] == f"{score:.1f}"

    revenue, nrr, grr = _rows(
        db, "select revenue, nrr, grr from marts.portfolio_kpis where as_of_date = ? and segment = 'all'", [AS_OF]
    )[0]
    total = outline.tables["portfolio"][-1]
    assert total[0] == t(lang, "segment_all")
    assert total[2] == f"{float(revenue):,.0f}"
    assert total[6] == f"{100 * nrr:.1f} %"
    assert total[7] == f"{100 * grr:.1f} %"

    managers = _rows(
        db, "select manager_id, score from marts.manager_scores where as_of_date = ? order by rank, manager_id", [AS_OF]
    )
    league = outline.tables["managers"][1:]
    assert len(league) == len(managers)
    assert league[0][1].startswith(managers[0][0]) and league[0][2] == f"{managers[0][1]:.1f}"

    crs = sorted(
        f"{cr:.4f}" for (cr,) in _rows(db, "select cr from marts.weight_consistency where as_of_date = ?", [AS_OF])
    )
    assert sorted(row[7] for row in outline.tables["consistency"][1:]) == crs

    # every profile's weight table, header rows dropped
    weights = _rows(db, "select weight from marts.indicator_weights where as_of_date = ?", [AS_OF])
    shown = [row[-1] for row in outline.tables["weights"] if row[-1] != t(lang, "col_weight")]
    assert sorted(shown) == sorted(f"{100 * w:.1f} %" for (w,) in weights)

    alerts = _rows(db, "select count(*) from marts.score_alerts where as_of_date = ?", [AS_OF])[0][0]
    if alerts:
        assert len(outline.tables["alerts"]) - 1 == alerts
    else:
        assert t(lang, "no_alerts") in outline.plain


@pytest.mark.parametrize("lang", LANGS)
def test_generated_sentences_in_both_languages(reports, db, lang):
    text = _outline(reports[lang]).plain
    scored, avg = _rows(db, "select count(score), avg(score) from marts.account_scores where as_of_date = ?", [AS_OF])[
        0
    ]
    if lang == "en":
        assert f"{scored} accounts were scored as of {AS_OF}; the average score is {avg:.1f}" in text
    else:
        assert f"截至 {AS_OF} 共有 {scored} 个客户参与评分，平均得分 {avg:.1f}" in text
    drop = _rows(
        db,
        "select account_id, account_name, score, score_change from marts.account_scores "
        "where as_of_date = ? and score_change <= -1 order by score_change, account_id limit 1",
        [AS_OF],
    )
    if drop:
        account_id, name, score, change = drop[0]
        expected = (
            f"{account_id} {name} fell {-change:.1f} points to {score:.1f}"
            if lang == "en"
            else f"{account_id} {name} 下降 {-change:.1f} 分至 {score:.1f}"
        )
        assert expected in text
        assert t(lang, "suggested_action", action="").strip() in text
    else:
        assert t(lang, "no_drops", previous=AS_OF - dt.timedelta(days=7)) in text
    key = _rows(db, "select count(*) from marts.account_scores where as_of_date = ? and is_key_account", [AS_OF])[0][0]
    assert t(lang, "risks_heading") in text and t(lang, "targets_heading") in text
    summary = f"of {key} key accounts miss" if lang == "en" else f"{key} 个关键客户中有"
    assert summary in text or t(lang, "all_targets_met") in text


def test_report_command_writes_the_requested_snapshot_and_language(pipeline_db, tmp_path):
    out = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kam_pipeline.cli",
            "report",
            "--db",
            str(pipeline_db),
            "--out",
            str(out),
            "--as-of",
            str(AS_OF),
            "--lang",
            "zh",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    html = out.read_text(encoding="utf-8")
    assert t("zh", "title") in html and f"{AS_OF}" in html


def test_report_command_fails_with_one_line_for_an_unknown_date(pipeline_db, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kam_pipeline.cli",
            "report",
            "--db",
            str(pipeline_db),
            "--out",
            str(tmp_path / "r.html"),
            "--as-of",
            "1999-01-01",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("kam: error: no snapshot for 1999-01-01")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_earlier_snapshot_reports_without_trends_or_alerts(pipeline_db, tmp_path):
    first = _first_snapshot(pipeline_db)
    result = build_report(pipeline_db, tmp_path / "first.html", first, "en")
    assert result.as_of == first
    text = _outline(result.path.read_text(encoding="utf-8")).plain
    assert t("en", "trend_single") in text
    assert t("en", "no_previous") in text


def _first_snapshot(db_path):
    with duckdb.connect(str(db_path), read_only=True) as conn:
        return conn.execute("select min(as_of_date) from marts.account_scores").fetchall()[0][0]


@pytest.mark.parametrize("lang", LANGS)
def test_a_long_league_table_shows_the_best_and_the_worst_with_a_note(pipeline_db, db, tmp_path, monkeypatch, lang):
    from kam_pipeline.report import render

    managers = _rows(
        db,
        "select manager_id from marts.manager_scores where as_of_date = ? and rank is not null "
        "order by rank, manager_id",
        [AS_OF],
    )
    total = _rows(db, "select count(*) from marts.manager_scores where as_of_date = ?", [AS_OF])[0][0]
    assert len(managers) > 3  # the fixture's book must be longer than the patched limit
    monkeypatch.setattr(render, "LEAGUE_TOP", 2)
    monkeypatch.setattr(render, "LEAGUE_BOTTOM", 1)
    out = tmp_path / f"short_{lang}.html"
    build_report(pipeline_db, out, AS_OF, lang)
    outline = _outline(out.read_text(encoding="utf-8"))
    rows = outline.tables["managers"][1:]
    assert [row[1].split()[0] for row in rows[:2] + rows[3:]] == [managers[0][0], managers[1][0], managers[-1][0]]
    # between the best and the worst, a row says which ranks are left out
    assert rows[2][:2] == ["⋯", t(lang, "breakdown_gap", first=3, last=len(managers) - 1)]
    assert t(lang, "league_table_note", top=2, bottom=1, n=total, table="manager_scores") in outline.plain
