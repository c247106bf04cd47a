"""The report's method comparison: agreement per profile and the accounts ranked most differently, both languages."""

from __future__ import annotations

import duckdb
import pytest
from test_content import _outline

from conftest import AS_OF
from kam_pipeline.report import default_report_path
from kam_pipeline.report.i18n import LANGS, number, t

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        yield conn


def _report(pipeline_db, lang):
    return _outline(default_report_path(pipeline_db, AS_OF, lang).read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", LANGS)
def test_agreement_table_shows_every_profile_from_the_mart(pipeline_db, db, lang):
    rows = _report(pipeline_db, lang).tables["agreement"]
    assert rows[0] == [
        t(lang, k)
        for k in (
            "col_profile",
            "col_accounts",
            "col_topsis_spearman",
            "col_topsis_kendall",
            "col_gra_spearman",
            "col_gra_kendall",
        )
    ]
    stored = db.execute(
        "select profile, accounts, topsis_spearman, topsis_kendall, gra_spearman, gra_kendall "
        "from marts.method_agreement where as_of_date = ? order by profile",
        [AS_OF],
    ).fetchall()
    assert rows[1:] == [[p, str(n), *(number(v, 2, lang) for v in values)] for p, n, *values in stored]


@pytest.mark.parametrize("lang", LANGS)
def test_the_accounts_whose_rank_moves_most_are_named(pipeline_db, db, lang):
    outline = _report(pipeline_db, lang)
    # Recomputed here: the largest distance of either other rank from the weighted-sum rank.
    expected = db.execute(
        """
        select m.account_id, s.account_name, m.profile, m.rank, m.topsis_rank, m.gra_rank,
               greatest(abs(m.topsis_rank - m.rank), abs(m.gra_rank - m.rank)) as shift
        from marts.method_comparison as m join marts.account_scores as s using (as_of_date, account_id)
        where m.as_of_date = ? and greatest(abs(m.topsis_rank - m.rank), abs(m.gra_rank - m.rank)) > 0
        order by shift desc, m.profile, m.account_id limit 10
        """,
        [AS_OF],
    ).fetchall()
    assert expected, "the fixture's methods should disagree on some account"
    rows = outline.tables["shifts"]
    assert rows[0][-1] == t(lang, "col_shift")
    assert rows[1:] == [[f"{a} {name}", p, str(r), str(tr), str(gr), str(s)] for a, name, p, r, tr, gr, s in expected]
    assert t(lang, "methods_shifts", n=len(expected)) in outline.plain
    assert t(lang, "methods_title") in outline.plain


def test_the_chinese_method_comparison_has_no_english_words(pipeline_db):
    text = _report(pipeline_db, "zh").plain
    for key in ("methods_title", "methods_agreement", "methods_shifts_note"):
        assert t("en", key) not in text
        assert t("zh", key) in text
