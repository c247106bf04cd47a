"""The report of a small book (8 accounts, one team, one snapshot) and of the 24-account fixture, as a person reads it.

Each point a new user found in the report of a small real book is checked in both languages:
shortened lists say what they leave out, charts keep rank order with a labelled gap, counts
agree with their nouns, no "n/a" stands in a sentence, the Chinese report has no English prose.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline.demo.generate import generate_dataset
from kam_pipeline.report import build_report, default_report_path, findings
from kam_pipeline.report.i18n import LANGS, STRINGS, t
from kam_pipeline.scoring.model import load_model

pytestmark = pytest.mark.integration

SMALL_AS_OF = dt.date(2026, 7, 1)


class _Page(HTMLParser):
    """Visible text of a report: prose (outside tables and charts), table cells, list items, and chart texts."""

    def __init__(self) -> None:
        super().__init__()
        self.prose: list[str] = []
        self.cells: list[str] = []
        self.items: dict[str, int] = {}  # section id -> <li> count
        self.chart_texts: dict[str, list[tuple[float, str]]] = {}  # chart -> (y, text)
        self._section: str | None = None
        self._chart: str | None = None
        self._text_y: float | None = None
        self._cell = 0
        self._skip = 0  # <style>, <title>

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs.get("id")
        elif tag == "svg":
            self._chart = attrs.get("data-chart")
            self.chart_texts.setdefault(self._chart or "", [])
        elif tag == "text" and self._chart is not None:
            self._text_y = float(attrs.get("y", "nan"))
        elif tag in ("td", "th"):
            self._cell += 1
        elif tag == "li" and self._section:
            self.items[self._section] = self.items.get(self._section, 0) + 1
        elif tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        elif tag == "text":
            self._text_y = None
        elif tag in ("td", "th"):
            self._cell -= 1
        elif tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data):
        text = data.strip()
        if not text or self._skip:
            return
        if self._chart is not None:
            if self._text_y is not None:
                self.chart_texts[self._chart or ""].append((self._text_y, text))
        elif self._cell:
            self.cells.append(text)
        else:
            self.prose.append(text)

    @property
    def plain(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.prose))

    def visible(self) -> list[str]:
        """Every visible string: prose, table cells, and the texts inside the charts."""
        return [*self.prose, *self.cells, *(s for texts in self.chart_texts.values() for _, s in texts)]


def _page(path_or_html: Path | str) -> _Page:
    page = _Page()
    page.feed(path_or_html.read_text(encoding="utf-8") if isinstance(path_or_html, Path) else path_or_html)
    return page


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    """8 generated accounts with 2 managers in 1 team, one daily run: the first stored snapshot."""
    data = tmp_path_factory.mktemp("small_data")
    generate_dataset(data, accounts=8, days=800, seed=7, end=SMALL_AS_OF - dt.timedelta(days=1))
    # A file no source reads: the report's data-quality section names it (not only raw.ingest_log).
    (data / "notes.txt").write_text("call A0003 back\n", encoding="utf-8")
    db = tmp_path_factory.mktemp("small_db") / "kam.duckdb"
    assert run_pipeline(data, db, SMALL_AS_OF).success
    return db


def _one(db: Path, sql: str) -> tuple:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()[0]


def _report(db: Path, as_of: dt.date, lang: str) -> _Page:
    return _page(default_report_path(db, as_of, lang))


# ---------------------------------------------------------------- counts and plurals


def test_every_english_count_of_one_takes_the_singular():
    # Fill every placeholder with 1: no English string may then say "1 accounts", "1 days", ...
    plural_after_one = re.compile(
        r"\b1 (accounts|files|rows|days|managers|teams|targets|points|alerts|snapshots|key accounts|input files|"
        r"delivered rows)\b|(?<![–-])\b1 (\w+ )?(are|were|have|miss)\b"
    )
    for key, texts in STRINGS.items():
        fields = {f for _, f, _, _ in __import__("string").Formatter().parse(texts["en"]) if f}
        text = t("en", key, **dict.fromkeys(fields, 1))
        assert not plural_after_one.search(text), (key, text)
    # ... and more than one takes the plural
    assert t("en", "quality_text", quarantined="2", files=3) == (
        "2 delivered rows are quarantined (kept aside with the rule broken, never scored); "
        "3 input files could not be read."
    )
    assert t("en", "quality_text", quarantined="1", files=1) == (
        "1 delivered row is quarantined (kept aside with the rule broken, never scored); 1 input file could not be read."
    )
    assert (
        t("en", "targets_summary", below=1, key=1, targets="x") == "1 of 1 key account misses at least one target (x)."
    )
    assert (
        t("en", "targets_summary", below=2, key=24, targets="x") == "2 of 24 key accounts miss at least one target (x)."
    )
    # "1.0 points": a decimal number keeps the plural
    assert t("en", "driver_text", indicator="i", before="a", after="b", points="-1.0").endswith("(-1.0 points)")
    assert t("en", "driver_text", indicator="i", before="a", after="b", points="-1").endswith("(-1 point)")


def test_chinese_counts_use_a_measure_word_and_no_plural():
    assert t("zh", "quality_text", quarantined="1", files=1) == (
        "共有 1 行输入数据被隔离（连同其违反的规则单独保存，不参与评分）；1 个输入文件无法读取。"
    )
    assert t("zh", "scope_managers_value", managers=2, teams=1) == "1 个团队共 2 名客户经理"
    assert t("zh", "card_accounts", n=1) == t("zh", "card_accounts", n=8) == "参评客户"
    for key, texts in STRINGS.items():
        # no English plural choice may be left in a Chinese string
        assert "|" not in texts["zh"].replace("{n:参评客户|参评客户}", "").replace("{n:关键客户|关键客户}", "").replace(
            "{n:预警|预警}", ""
        ), key


@pytest.mark.parametrize("lang", LANGS)
def test_the_small_book_counts_read_correctly(small_db, lang):
    teams, managers = _one(
        small_db,
        f"select count(distinct team_id), count(*) from marts.manager_scores where as_of_date = '{SMALL_AS_OF}'",
    )
    assert teams == 1 and managers >= 2  # the fixture's shape
    page = _report(small_db, SMALL_AS_OF, lang)
    expected = f"{managers} managers in 1 team" if lang == "en" else f"1 个团队共 {managers} 名客户经理"
    assert expected in page.plain
    if lang == "en":
        assert "1 teams" not in page.plain and "0 input files could not be read" in page.plain
        assert "1 file of the data folder is read by no source (ignored, listed below)." in page.plain
        assert "1: 2026-07-01 (the first stored snapshot)" in page.plain
    else:
        assert "0 个输入文件无法读取" in page.plain
        assert "数据文件夹中有 1 个文件不属于任何数据源，未被读取（已忽略，见下表）。" in page.plain
        assert "1 个：2026-07-01（第一个存储的快照）" in page.plain
    # The file is listed with its status and reason.
    row = page.cells.index("notes.txt")
    assert page.cells[row + 1] == ("ignored" if lang == "en" else "已忽略")
    assert page.cells[row + 2].startswith("unsupported file type '.txt'")


# ---------------------------------------------------------------- no n/a in sentences


@pytest.mark.parametrize("lang", LANGS)
def test_the_first_snapshot_says_there_is_nothing_to_compare_with(small_db, lang):
    text = _report(small_db, SMALL_AS_OF, lang).plain
    assert t(lang, "alerts_first") in text
    assert ("snapshot of n/a" if lang == "en" else "对比快照：无") not in text
    assert t(lang, "no_previous_drops") in text  # the drops section speaks of score changes, not of alerts


@pytest.mark.parametrize("lang", LANGS)
def test_a_later_snapshot_names_the_one_it_compares_with(pipeline_db, lang):
    text = _report(pipeline_db, AS_OF, lang).plain
    assert t(lang, "alerts_compared", previous=AS_OF - dt.timedelta(days=7)) in text
    assert t(lang, "alerts_first") not in text


@pytest.mark.parametrize("lang", LANGS)
def test_no_placeholder_for_a_missing_value_reaches_a_sentence(small_db, pipeline_db, tmp_path, monkeypatch, lang):
    # "n/a" (Chinese "无") is for table cells; a sentence must say what is missing in words.
    monkeypatch.setitem(STRINGS, "not_available", {"en": "NA-SENTINEL", "zh": "NA-SENTINEL"})
    for name, db, as_of in (("small", small_db, SMALL_AS_OF), ("fixture", pipeline_db, AS_OF)):
        page = _page(build_report(db, tmp_path / f"{name}_{lang}.html", as_of, lang).path)
        assert "NA-SENTINEL" not in page.plain, (name, re.findall(r".{80}NA-SENTINEL.{40}", page.plain))
        assert any("NA-SENTINEL" in c for c in page.cells), name  # the sentinel is used: the check can fail


# ---------------------------------------------------------------- small groups: all N, not top N and bottom 0


@pytest.mark.parametrize("lang", LANGS)
def test_a_small_book_is_shown_whole_in_rank_order(small_db, lang):
    scored = _one(small_db, f"select count(score) from marts.account_scores where as_of_date = '{SMALL_AS_OF}'")[0]
    assert scored == 8
    page = _report(small_db, SMALL_AS_OF, lang)
    assert t(lang, "ranking_table_all", n=scored) in page.plain
    assert ("bottom 0" if lang == "en" else "后 0 名") not in page.plain
    assert ("Top 8" if lang == "en" else "前 8 名") not in " ".join(page.visible())
    assert any(s == t(lang, "chart_ranking_all", n=scored) for _, s in page.chart_texts["ranking"])
    ranks = _chart_ranks(page, "breakdown")
    assert ranks == list(range(1, scored + 1))
    assert t(lang, "breakdown_all", n=scored) in page.plain


def _chart_ranks(page: _Page, chart: str) -> list[int]:
    """The `N.` prefixes of the chart's account labels, top to bottom as drawn (SVG y grows downwards)."""
    labelled = sorted((y, int(m.group(1))) for y, s in page.chart_texts[chart] if (m := re.match(r"(\d+)\. ", s)))
    return [rank for _, rank in labelled]


@pytest.mark.parametrize("lang", LANGS)
def test_a_split_perspective_chart_keeps_rank_order_and_labels_the_gap(pipeline_db, lang):
    from kam_pipeline.report.render import BREAKDOWN_BOTTOM, BREAKDOWN_TOP

    scored = _one(pipeline_db, f"select count(score) from marts.account_scores where as_of_date = '{AS_OF}'")[0]
    assert scored > BREAKDOWN_TOP + BREAKDOWN_BOTTOM  # the fixture's book must be split
    page = _report(pipeline_db, AS_OF, lang)
    ranks = _chart_ranks(page, "breakdown")
    assert ranks == [*range(1, BREAKDOWN_TOP + 1), *range(scored - BREAKDOWN_BOTTOM + 1, scored + 1)]
    first, last = BREAKDOWN_TOP + 1, scored - BREAKDOWN_BOTTOM
    gap = [y for y, s in page.chart_texts["breakdown"] if s == t(lang, "breakdown_gap", first=first, last=last)]
    assert len(gap) == 1  # in the chart, between the two parts
    ys = {rank: y for y, s in page.chart_texts["breakdown"] if (m := re.match(r"(\d+)\. ", s)) for rank in [int(m[1])]}
    assert ys[BREAKDOWN_TOP] < gap[0] < ys[scored - BREAKDOWN_BOTTOM + 1]
    assert (
        t(lang, "breakdown_split", top=BREAKDOWN_TOP, bottom=BREAKDOWN_BOTTOM, n=scored, first=first, last=last)
        in page.plain
    )  # and in the caption


@pytest.mark.parametrize("lang", LANGS)
def test_a_split_ranking_table_has_a_gap_row_and_says_where_the_rest_is(pipeline_db, lang):
    from kam_pipeline.report.render import TABLE_BOTTOM, TABLE_TOP

    scored = _one(pipeline_db, f"select count(score) from marts.account_scores where as_of_date = '{AS_OF}'")[0]
    assert scored > TABLE_TOP + TABLE_BOTTOM
    page = _report(pipeline_db, AS_OF, lang)
    note = t(
        lang,
        "ranking_table_note",
        top=TABLE_TOP,
        bottom=TABLE_BOTTOM,
        n=scored,
        first=TABLE_TOP + 1,
        last=scored - TABLE_BOTTOM,
    )
    assert note in page.plain and "marts.account_scores" in note
    assert t(lang, "breakdown_gap", first=TABLE_TOP + 1, last=scored - TABLE_BOTTOM) in page.cells


# ---------------------------------------------------------------- shortened lists say what they leave out


@pytest.mark.parametrize("lang", LANGS)
def test_a_shortened_list_of_key_accounts_below_target_says_how_many_are_not_shown(
    small_db, tmp_path, monkeypatch, lang
):
    result = build_report(small_db, tmp_path / f"full_{lang}.html", SMALL_AS_OF, lang)
    found = findings.analyse(result.data, load_model())
    below = found.key_below_target
    assert below >= 2  # the fixture: several key accounts miss a target
    full = _page(result.path)
    assert len(found.below_target) == below and full.items["conclusions"] >= below  # all listed by default ...
    assert "marts.kpi_attainment" not in full.plain  # ... and no note
    monkeypatch.setattr(findings, "TOP_BELOW_TARGET", 1)
    page = _page(build_report(small_db, tmp_path / f"short_{lang}.html", SMALL_AS_OF, lang).path)
    note = t(lang, "targets_more", shown=1, rest=below - 1)
    assert note in page.plain and "marts.kpi_attainment" in note
    assert str(below - 1) in note
    if lang == "en":
        assert "The account with the most missed targets is listed" in note


@pytest.mark.parametrize("lang", LANGS)
def test_a_shortened_list_of_score_drops_says_how_many_are_not_shown(pipeline_db, tmp_path, monkeypatch, lang):
    falls = _one(
        pipeline_db, f"select count(*) from marts.account_scores where as_of_date = '{AS_OF}' and score_change <= -1"
    )[0]
    assert falls >= 2
    monkeypatch.setattr(findings, "TOP_DROPS", 1)
    page = _page(build_report(pipeline_db, tmp_path / f"drops_{lang}.html", AS_OF, lang).path)
    assert (
        t(lang, "drops_more", total=falls, shown=1, rest=falls - 1, previous=AS_OF - dt.timedelta(days=7)) in page.plain
    )


# ---------------------------------------------------------------- the Chinese report is Chinese


def _data_names(db: Path, as_of: dt.date) -> set[str]:
    """Names that come from the customer's data or the model's ids (account, manager, team, segment, profile),
    and the reasons of the files not read, which the report quotes as raw.ingest_log stores them."""
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "select reason from raw.ingest_log where status in ('failed', 'ignored') union "
            "select source from raw.ingest_log union "
            "select account_name from marts.account_scores where as_of_date = $d union "
            "select segment from marts.account_scores where as_of_date = $d union "
            "select profile from marts.account_scores where as_of_date = $d union "
            "select manager_name from marts.manager_scores where as_of_date = $d union "
            "select team_name from marts.team_scores where as_of_date = $d",
            {"d": as_of},
        ).fetchall()
    return {r[0] for r in rows if r[0]}


# Identifiers the report prints as they are: column and level names of the marts it points to.
_IDENTIFIERS = {"level", "account", "marts"}
_ENGLISH_WORD = re.compile(r"(?<![\w.])[A-Za-z]*[a-z][A-Za-z]*(?![\w.(])")


def english_words(texts: list[str], names: set[str]) -> list[str]:
    """Words of English left in `texts` once data names, identifiers (with _ . or digits) and acronyms are set aside."""
    found = []
    for text in texts:
        for name in sorted(names, key=len, reverse=True):
            text = text.replace(name, " ")
        # a truncated chart label ("A0007 Silverline Indust…") is a name too
        text = re.sub(r"[A-Z]\d{3,}\s+[^\u4e00-\u9fff]*…", " ", text)
        found += [w for w in _ENGLISH_WORD.findall(text) if w not in _IDENTIFIERS and len(w) > 1]
    return found


@pytest.mark.parametrize("which", ["small", "fixture"])
def test_the_chinese_report_has_no_english_prose(small_db, pipeline_db, which):
    db, as_of = (small_db, SMALL_AS_OF) if which == "small" else (pipeline_db, AS_OF)
    page = _report(db, as_of, "zh")
    names = _data_names(db, as_of)
    assert english_words(page.visible(), names) == []
    # the check finds English where there is some: the English report is full of it
    assert len(english_words(_report(db, as_of, "en").visible(), names)) > 200
    # Chinese sentences follow each other without a space
    html = default_report_path(db, as_of, "zh").read_text(encoding="utf-8")
    assert re.findall(r"[。；] +[\u4e00-\u9fff]", html) == []
    # the subtitle is Chinese, model name included
    assert t("zh", "subtitle", as_of=as_of, model=load_model().spec.label["zh"]) in page.plain


def test_the_english_words_check_finds_an_english_subtitle():
    assert english_words(["评估日期：2026-07-01 · Balanced scorecard for key accounts (default)"], set()) == [
        "Balanced",
        "scorecard",
        "for",
        "key",
        "accounts",
        "default",
    ]
    assert (
        english_words(["完整名单见 marts.account_scores（level 为 'account'）", "λmax", "CR", "KPI达成"], set()) == []
    )


# ---------------------------------------------------------------- suggested actions read unambiguously


def test_the_cross_sell_action_says_who_offers_what_to_whom():
    zh = t("zh", "action_cross_sell")
    # not "推荐客户向其他供应商采购" (which reads: advise the customer to buy from other suppliers)
    assert "推荐客户向" not in zh and "向客户推荐其目前从其他供应商采购的品类" in zh
    en = t("en", "action_cross_sell")
    assert "offer the account the categories it now buys from other suppliers" in en
    for key, texts in STRINGS.items():
        if key.startswith("action_"):
            name, _, what = texts["zh"].partition("——")
            assert name and what and "——" not in what, key  # "name——what to do", as "name — what to do"
            assert "推荐客户向" not in texts["zh"], key
