"""great-expectations suites on bad snapshots, and the publish gate they drive."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline import checks
from kam_pipeline.quality import SuiteOutcome, validate_row_count, validate_snapshot, validate_weights

D = dt.date(2026, 3, 1)


@pytest.fixture()
def conn():
    with duckdb.connect() as c:
        c.execute("create schema marts")
        yield c


def test_scores_suite_counts_duplicates_nulls_and_out_of_range(conn):
    conn.execute(
        """
        create table marts.account_scores as
        select * from (values
            (date '2026-03-01', 'A1', 50.0, 0.9, 'C'),
            (date '2026-03-01', 'A1', 60.0, 0.9, 'C'),
            (date '2026-03-01', 'A2', 120.0, 1.5, 'A'),
            (date '2026-03-01', NULL, 10.0, 0.5, NULL),
            (date '2026-02-01', 'A9', 500.0, 9.0, 'A')  -- another snapshot: not validated
        ) as t(as_of_date, account_id, score, completeness, grade)
        """
    )
    outcome = validate_snapshot(conn, "account_scores", D)
    assert not outcome.success
    assert outcome.rows == 4
    failed = {(f["expectation"], f["column"]): f["unexpected"] for f in outcome.failures}
    assert failed[("expect_column_values_to_be_unique", "account_id")] == 2
    assert failed[("expect_column_values_to_not_be_null", "account_id")] == 1
    assert failed[("expect_column_values_to_be_between", "score")] == 1
    assert failed[("expect_column_values_to_be_between", "completeness")] == 1
    assert failed[("expect_column_values_to_not_be_null", "grade")] == 1
    assert "A1" in outcome.markdown()


def test_weights_suite_needs_every_profile_to_sum_to_one(conn):
    conn.execute(
        """
        create table marts.indicator_weights as
        select * from (values
            (date '2026-03-01', 'account', 'default', 'a', 0.6), (date '2026-03-01', 'account', 'default', 'b', 0.4),
            (date '2026-03-01', 'account', 'multinational', 'a', 0.5),
            (date '2026-03-01', 'account', 'multinational', 'b', 0.4),
            (date '2026-03-01', 'manager', 'default', 'a', 1.0)
        ) as t(as_of_date, subject, profile, indicator, weight)
        """
    )
    outcome = validate_weights(conn, D)
    assert not outcome.success
    assert outcome.failures[0]["column"] == "weight_sum" and outcome.failures[0]["unexpected"] == 1
    conn.execute("update marts.indicator_weights set weight = 0.6 where profile = 'multinational' and indicator = 'a'")
    assert validate_weights(conn, D).success


def test_row_count_band_against_previous_snapshot(conn):
    conn.execute(
        "create table marts.portfolio_kpis as select date '2026-02-01' as as_of_date, i as n from range(10) t(i) "
        "union all select date '2026-03-01', i from range(3) t(i)"
    )
    outcome = validate_row_count(conn, "portfolio_kpis", D)
    assert not outcome.success  # 3 rows after 10 is outside the 50 % band
    assert validate_row_count(conn, "portfolio_kpis", dt.date(2026, 2, 1)).success  # no previous snapshot


@pytest.mark.integration
def test_a_failed_blocking_check_stops_the_publish(generated_data, tmp_path, monkeypatch):
    db = tmp_path / "kam.duckdb"
    assert run_pipeline(generated_data, db, AS_OF - dt.timedelta(days=1)).success
    published = db.read_bytes()

    def failing(conn, table, as_of):
        outcome = validate_snapshot(conn, table, as_of)
        if table == "account_scores":
            return SuiteOutcome(False, outcome.rows, [{"expectation": "forced", "column": "score",
                                                      "unexpected": 1, "sample": "x"}])
        return outcome

    monkeypatch.setattr(checks, "validate_snapshot", failing)
    result = run_pipeline(generated_data, db, AS_OF)
    assert not result.success or not any(
        e.step_key == "published_snapshot" and e.is_step_success for e in result.all_events
    )
    assert db.read_bytes() == published  # the previous snapshot is still what BI sees
    evaluations = [
        e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    failed = [ev for ev in evaluations if not ev.passed]
    assert [(ev.asset_key.to_user_string(), ev.check_name) for ev in failed] == [
        ("marts/account_scores", "gx_snapshot_valid")
    ]
