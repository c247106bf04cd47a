"""The whole pipeline materialized through Dagster on generated data, checked from the published file."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.warehouse.database import work_path_for

pytestmark = pytest.mark.integration

MARTS = {
    "account_indicators": ["as_of_date", "account_id", "revenue", "revenue_growth", "csat", "nps", "is_churned"],
    "account_assessments": ["as_of_date", "account_id", "dimension", "score"],
    "account_scores": [
        "as_of_date",
        "account_id",
        "segment",
        "manager_id",
        "team_id",
        "score",
        "financial_score",
        "customer_score",
        "internal_process_score",
        "learning_growth_score",
        "rank",
        "segment_rank",
        "grade",
        "score_change",
        "completeness",
        "is_key_account",
        "key_account_rule",
    ],
    "indicator_weights": [
        "as_of_date",
        "profile",
        "indicator",
        "group",
        "method",
        "weight",
        "subjective_weight",
        "objective_weight",
    ],
    "score_contributions": [
        "as_of_date",
        "account_id",
        "indicator",
        "group",
        "value",
        "normalized",
        "weight",
        "contribution",
    ],
    "weight_consistency": ["as_of_date", "profile", "matrix_name", "n", "matrix", "lambda_max", "ci", "cr", "accepted"],
    "manager_scores": [
        "as_of_date",
        "manager_id",
        "score",
        "feedback_score",
        "account_count",
        "revenue",
        "rank",
        "grade",
        "kpi_attainment",
        "kpis_met",
        "financial_score",
        "customer_score",
        "internal_process_score",
        "learning_growth_score",
        "kpi_score",
        "nrr",
        "account_score",
    ],
    "team_scores": [
        "as_of_date",
        "team_id",
        "score",
        "feedback_score",
        "account_count",
        "revenue",
        "rank",
        "grade",
        "kpi_attainment",
    ],
    "manager_score_contributions": [
        "as_of_date",
        "manager_id",
        "indicator",
        "value",
        "normalized",
        "weight",
        "contribution",
    ],
    "kpi_attainment": ["as_of_date", "level", "entity_id", "kpi", "value", "target", "attainment", "met"],
    "book_indicators": ["as_of_date", "level", "entity_id", "revenue", "nrr", "account_score", "feedback_score"],
    "portfolio_kpis": [
        "as_of_date",
        "segment",
        "logo_retention",
        "churn_rate",
        "nrr",
        "grr",
        "revenue",
        "revenue_growth",
        "market_share",
    ],
}


@pytest.fixture()
def db(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        yield conn


def _columns(db, table):
    return [
        r[0]
        for r in db.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = ?",
            [table],
        ).fetchall()
    ]


def test_every_contract_table_exists_with_its_columns(db):
    for table, required in MARTS.items():
        missing = set(required) - set(_columns(db, table))
        assert not missing, f"marts.{table} lacks {missing}"


def test_two_snapshots_are_kept(db):
    dates = [r[0] for r in db.execute("select distinct as_of_date from marts.account_scores order by 1").fetchall()]
    assert dates == [AS_OF - dt.timedelta(days=7), AS_OF]


def test_every_marts_column_has_a_comment(db):
    rows = db.execute(
        "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"
    ).fetchall()
    assert rows
    undocumented = [(t, c) for t, c, comment in rows if not comment]
    assert undocumented == []


def test_scores_equal_the_sum_of_their_contributions(db):
    rows = db.execute(
        """
        select s.account_id, s.score, sum(c.contribution) as total, sum(c.weight) as weights
        from marts.account_scores s
        join marts.score_contributions c using (as_of_date, account_id)
        where s.as_of_date = ? and s.score is not null
        group by all
        """,
        [AS_OF],
    ).fetchall()
    assert len(rows) > 10
    for account, score, total, weights in rows:
        assert total == pytest.approx(score, abs=1e-9), account
        assert weights == pytest.approx(1.0, abs=1e-9), account


def test_contribution_is_weight_times_normalized(db):
    bad = db.execute(
        "select count(*) from marts.score_contributions "
        "where abs(contribution - 100 * weight * coalesce(normalized, 0)) > 1e-9"
    ).fetchall()[0][0]
    assert bad == 0


def test_profile_weights_sum_to_one(db):
    sums = db.execute(
        "select subject, profile, sum(weight) from marts.indicator_weights where as_of_date = ? group by all",
        [AS_OF],
    ).fetchall()
    assert {(s, p) for s, p, _ in sums} == {
        ("account", "default"),
        ("account", "multinational"),
        ("account", "new_accounts"),  # the shipped profile of accounts in lifecycle stage new
        ("manager", "default"),
    }
    for _, _, total in sums:
        assert total == pytest.approx(1.0, abs=1e-9)


def test_scores_grades_and_ranks_are_consistent(db):
    rows = db.execute(
        "select score, grade, rank, completeness from marts.account_scores where as_of_date = ? order by rank",
        [AS_OF],
    ).fetchall()
    bands = [("A", 80), ("B", 65), ("C", 50), ("D", 0)]
    for score, grade, _rank, completeness in rows:
        assert 0 <= completeness <= 1
        if completeness < 0.6:
            assert grade == "insufficient_data"
        else:
            assert 0 <= score <= 100
            assert grade == next(g for g, lo in bands if score >= lo)
    scores = [r[0] for r in rows if r[0] is not None]
    assert scores == sorted(scores, reverse=True)
    assert rows[0][2] == 1


def test_score_change_is_against_the_previous_snapshot(db):
    rows = db.execute(
        """
        select cur.account_id, cur.score_change, cur.score - prev.score
        from marts.account_scores cur
        join marts.account_scores prev on prev.account_id = cur.account_id and prev.as_of_date = ?
        where cur.as_of_date = ?
        """,
        [AS_OF - dt.timedelta(days=7), AS_OF],
    ).fetchall()
    assert rows
    for account, change, expected in rows:
        assert change == pytest.approx(expected), account


def test_key_accounts_cover_the_pareto_share_of_revenue(db):
    total, pareto_rev, pareto_n = db.execute(
        """
        select sum(revenue) filter (where revenue > 0),
               sum(revenue) filter (where key_account_rule = 'pareto_80'),
               count(*) filter (where key_account_rule = 'pareto_80')
        from marts.account_scores where as_of_date = ?
        """,
        [AS_OF],
    ).fetchall()[0]
    total, pareto_rev = float(total), float(pareto_rev)
    assert pareto_rev >= 0.8 * total
    # minimal: without its smallest member the set falls short of 80 %
    smallest = db.execute(
        "select min(revenue) from marts.account_scores where as_of_date = ? and key_account_rule = 'pareto_80'",
        [AS_OF],
    ).fetchall()[0][0]
    assert pareto_rev - float(smallest) < 0.8 * total
    assert 0 < pareto_n < 24


def test_manager_scores_are_explained_and_teams_aggregate_managers(db):
    rows = db.execute(
        """
        select m.manager_id, m.score, sum(c.contribution), sum(c.weight)
        from marts.manager_scores m
        join marts.manager_score_contributions c using (as_of_date, manager_id)
        where m.as_of_date = ? and m.score is not null
        group by all
        """,
        [AS_OF],
    ).fetchall()
    assert len(rows) >= 3
    for manager, score, total, weights in rows:
        assert total == pytest.approx(score, abs=1e-9), manager
        assert weights == pytest.approx(1.0, abs=1e-9), manager
    book = db.execute(
        """
        select m.manager_id, m.account_score,
               sum(greatest(s.revenue, 0) * s.score) / sum(greatest(s.revenue, 0))
        from marts.manager_scores m
        join marts.account_scores s using (as_of_date, manager_id)
        where m.as_of_date = ? and s.score is not null
        group by all
        """,
        [AS_OF],
    ).fetchall()
    for manager, account_score, expected in book:
        assert float(account_score) == pytest.approx(float(expected)), manager
    teams = db.execute(
        """
        select t.team_id, t.score,
               sum(greatest(m.revenue, 0) * m.score) / sum(greatest(m.revenue, 0))
        from marts.team_scores t
        join marts.manager_scores m using (as_of_date, team_id)
        where t.as_of_date = ? and m.score is not null
        group by all
        """,
        [AS_OF],
    ).fetchall()
    expected_teams = db.execute("select count(distinct team_id) from staging.managers").fetchall()[0][0]
    assert len(teams) == expected_teams
    for team, score, expected in teams:
        assert score == pytest.approx(expected), team


def test_portfolio_has_segments_and_total(db):
    segments = {
        r[0] for r in db.execute("select segment from marts.portfolio_kpis where as_of_date = ?", [AS_OF]).fetchall()
    }
    account_segments = {r[0] for r in db.execute("select distinct segment from staging.accounts").fetchall()}
    assert segments == account_segments | {"all"}
    total, by_segment = db.execute(
        "select sum(revenue) filter (where segment = 'all'), sum(revenue) filter (where segment <> 'all') "
        "from marts.portfolio_kpis where as_of_date = ?",
        [AS_OF],
    ).fetchall()[0]
    assert total == pytest.approx(by_segment)


def test_ahp_consistency_is_recorded(db):
    rows = db.execute(
        "select profile, matrix_name, n, cr, accepted from marts.weight_consistency where as_of_date = ?", [AS_OF]
    ).fetchall()
    assert sorted((p, m, n) for p, m, n, *_ in rows) == [
        ("default", "groups", 4),
        ("default", "groups", 5),
        ("multinational", "groups", 4),
        ("new_accounts", "groups", 4),  # the default's group matrix, inherited
    ]
    assert all(0 <= cr <= 0.1 and ok for *_, cr, ok in rows)


def test_layers_and_lineage(db, pipeline_db):
    # BI reads staging, quarantine and the ingest log in the published file; the raw rows as
    # delivered stay in the working database beside it.
    for source in SOURCES:
        for schema in ("staging", "quarantine"):
            db.execute(f"select count(*) from {schema}.{source}").fetchall()
    assert db.execute("select count(*) from information_schema.tables where table_name = 'orders' "
                      "and table_schema = 'raw'").fetchall() == [(0,)]  # fmt: skip
    files = db.execute("select count(*) from raw.ingest_log where source = 'orders' and status = 'loaded'").fetchall()
    assert files[0][0] >= 2  # orders.csv plus daily drops
    with duckdb.connect(str(work_path_for(pipeline_db)), read_only=True) as work:
        for source in SOURCES:
            work.execute(f"select count(*) from raw.{source}").fetchall()
        lineage = work.execute(
            "select count(*) from raw.orders where _source_file is null or _row_number is null"
        ).fetchall()
        assert lineage[0][0] == 0
        assert work.execute("select count(*) from raw.orders").fetchall()[0][0] > 0


def test_rerunning_a_date_replaces_its_snapshot(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    assert run_pipeline(generated_data, db, AS_OF).success

    def snapshot():
        with duckdb.connect(str(db), read_only=True) as conn:
            return conn.execute(
                "select account_id, score, grade from marts.account_scores where as_of_date = ? order by account_id",
                [AS_OF],
            ).fetchall()

    first = snapshot()
    assert run_pipeline(generated_data, db, AS_OF).success
    assert snapshot() == first
    assert len(first) == 24


def test_a_new_daily_file_is_picked_up(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    db = tmp_path / "kam.duckdb"
    assert run_pipeline(data, db, AS_OF).success
    (data / f"orders_{AS_OF}.csv").write_text(
        "order_id,line_no,account_id,order_date,product_category,quantity,net_amount,cost_amount,status\n"
        f"NEW-1,1,A0001,{AS_OF},extra,1,12345.5,100,completed\n",
        encoding="utf-8",
    )
    next_day = AS_OF + dt.timedelta(days=1)
    assert run_pipeline(data, db, next_day).success
    with duckdb.connect(str(db), read_only=True) as conn:
        statuses = dict(conn.execute("select file_name, status from raw.ingest_log where source = 'orders'").fetchall())
        new_row = conn.execute("select count(*) from staging.orders where order_id = 'NEW-1'").fetchall()[0][0]
        last = conn.execute(
            "select last_order_date from marts.account_indicators where as_of_date = ? and account_id = 'A0001'",
            [next_day],
        ).fetchall()[0][0]
    assert statuses[f"orders_{AS_OF}.csv"] == "loaded"
    assert new_row == 1
    assert last == AS_OF


def test_missing_required_source_fails_the_run(tmp_path, generated_data):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    (data / "accounts.csv").unlink()
    result = run_pipeline(data, tmp_path / "kam.duckdb", AS_OF)
    assert not result.success
    assert not (tmp_path / "kam.duckdb").exists()  # nothing published
