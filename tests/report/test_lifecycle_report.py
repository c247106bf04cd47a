"""The lifecycle in the report built by the pipeline: bridge waterfalls, new key and churned accounts, and the
sentence saying where the revenue change came from, in both languages, checked against the database."""

from __future__ import annotations

import re
from html import unescape

import duckdb
import pytest

from conftest import AS_OF
from kam_pipeline.report import default_report_path
from kam_pipeline.report.i18n import LANGS, t

pytestmark = pytest.mark.integration

BUCKETS = ("new", "reactivated", "expansion", "contraction", "churned", "other")


@pytest.fixture(scope="module")
def reports(pipeline_db) -> dict[str, str]:
    return {lang: default_report_path(pipeline_db, AS_OF, lang).read_text(encoding="utf-8") for lang in LANGS}


@pytest.fixture(scope="module")
def db(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        yield conn


def _table(html: str, cls: str) -> list[list[str]]:
    """The body rows of the table with class `cls`, as text cells."""
    found = re.search(rf'<table class="{cls}">(.*?)</table>', html, flags=re.S)
    assert found, cls
    body = found.group(1).split("<tbody>", 1)[1]
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_a_waterfall_for_the_portfolio_and_each_segment(reports, db, lang):
    segments = [
        r[0]
        for r in db.execute(
            "select entity_id from marts.revenue_bridge where as_of_date = ? and level = 'segment' order by 1", [AS_OF]
        ).fetchall()
    ]
    charts = re.findall(r'data-chart="(bridge[^"]*)"', reports[lang])
    assert charts == ["bridge", *(f"bridge-{s}" for s in segments)]
    # Each waterfall labels its bars with the bridge's amounts: start, the six buckets, end.
    row = db.execute(
        "select revenue_prev, " + ", ".join(BUCKETS) + ", revenue from marts.revenue_bridge "
        "where as_of_date = ? and level = 'all'",
        [AS_OF],
    ).fetchone()
    svg = re.search(r'<svg [^>]*data-chart="bridge".*?</svg>', reports[lang], re.S).group(0)
    texts = [unescape(x).strip() for x in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    labels = [f"{float(row[0]):,.0f}", *(f"{float(v):+,.0f}" for v in row[1:-1]), f"{float(row[-1]):,.0f}"]
    # In order (bars are drawn left to right), equal amounts (two +0) each at their own place.
    at = 0
    for label in labels:
        at = texts.index(label, at) + 1


@pytest.mark.parametrize("lang", LANGS)
def test_new_key_accounts_and_churned_accounts_are_listed(reports, db, lang):
    new_key = db.execute(
        "select i.account_id, i.account_name, i.segment, i.first_order_date, i.revenue "
        "from marts.account_indicators i join marts.account_scores s using (as_of_date, account_id) "
        "where i.as_of_date = ? and i.lifecycle_stage = 'new' and s.is_key_account "
        "order by i.revenue desc, i.account_id",
        [AS_OF],
    ).fetchall()
    expected = [[f"{a} {n}", seg, str(first), f"{float(rev):,.0f}"] for a, n, seg, first, rev in new_key]
    if expected:
        assert _table(reports[lang], "new-key-accounts") == expected
    else:
        assert t(lang, "new_key_none") in reports[lang]
    churned = db.execute(
        "select account_id, account_name, segment, last_order_date, revenue_prev from marts.account_indicators "
        "where as_of_date = ? and lifecycle_stage = 'churned' order by revenue_prev desc, account_id limit 10",
        [AS_OF],
    ).fetchall()
    assert churned, "the generated data have churned accounts"
    rows = _table(reports[lang], "churned-accounts")
    assert [[r[0].removesuffix(" ★"), *r[1:]] for r in rows] == [
        [f"{a} {n}", seg, str(last), f"{float(prev):,.0f}"] for a, n, seg, last, prev in churned
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_the_conclusions_say_where_the_revenue_change_came_from(reports, db, lang):
    row = dict(
        zip(
            ["revenue_prev", *BUCKETS, "revenue"],
            db.execute(
                "select revenue_prev, " + ", ".join(BUCKETS) + ", revenue from marts.revenue_bridge "
                "where as_of_date = ? and level = 'all'",
                [AS_OF],
            ).fetchone(),
            strict=True,
        )
    )
    amounts = {b: float(row[b]) for b in BUCKETS}
    largest = max(BUCKETS, key=lambda b: abs(amounts[b]))
    sentence = t(
        lang,
        "bridge_sentence",
        prev=f"{float(row['revenue_prev']):,.0f}",
        revenue=f"{float(row['revenue']):,.0f}",
        change=f"{float(row['revenue']) - float(row['revenue_prev']):+,.0f}",
        largest=t(lang, "bridge_" + largest),
        largest_amount=f"{amounts[largest]:+,.0f}",
        **{b: f"{v:+,.0f}" for b, v in amounts.items()},
    )
    conclusions = reports[lang].split('<section id="conclusions">', 1)[1]
    assert f'<p class="bridge">{sentence}</p>' in unescape(conclusions)
