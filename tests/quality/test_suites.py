"""great-expectations suites on bad snapshots, and the publish gate they drive."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline.defs import checks
from kam_pipeline.quality.suites import SuiteOutcome, validate_row_count, validate_snapshot, validate_weights

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
    # A failed suite names the values it found (only a failure is validated with them).
    samples = {(f["expectation"], f["column"]): f["sample"] for f in outcome.failures}
    assert samples[("expect_column_values_to_be_between", "score")] == "120.0"
    assert samples[("expect_column_values_to_be_unique", "account_id")] == "A1, A1"
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


def test_suites_of_different_marts_in_one_process_each_judge_their_own_frame(conn):
    # Every suite's frame goes through one GX batch definition: none may see another's rows.
    conn.execute(
        "create table marts.account_scores as select * from (values (date '2026-03-01', 'A1', 120.0, 0.9, 'C')) "
        "as t(as_of_date, account_id, score, completeness, grade)"
    )
    conn.execute(
        "create table marts.indicator_weights as select * from (values (date '2026-03-01', 'account', 'default', "
        "'a', 1.0)) as t(as_of_date, subject, profile, indicator, weight)"
    )
    first = validate_snapshot(conn, "account_scores", D)
    assert validate_weights(conn, D).success
    again = validate_snapshot(conn, "account_scores", D)
    assert not first.success and again.failures == first.failures and again.rows == 1
    conn.execute("update marts.account_scores set score = 80")
    assert validate_snapshot(conn, "account_scores", D).success
    assert not validate_weights(conn, dt.date(2026, 3, 2)).success  # no weights on that date


E = dt.date(2026, 3, 2)


def _scores(conn, rows):
    conn.execute(
        "create or replace table marts.account_scores (as_of_date date, account_id varchar, score double, "
        "completeness double, grade varchar)"
    )
    conn.executemany("insert into marts.account_scores values (?, ?, ?, 0.9, 'C')", rows)


def test_one_run_over_several_dates_keeps_keys_per_date(conn):
    # The same account on two dates is no duplicate; twice on one date is, whichever date.
    _scores(conn, [(D, "A1", 50.0), (E, "A1", 55.0), (E, "A2", 60.0)])
    assert validate_snapshot(conn, "account_scores", [D, E]).success
    _scores(conn, [(D, "A1", 50.0), (E, "A1", 55.0), (E, "A1", 60.0), (E, "A2", 160.0)])
    outcome = validate_snapshot(conn, "account_scores", [D, E])
    failed = {(f["expectation"], f["column"]): f["unexpected"] for f in outcome.failures}
    assert failed == {
        ("expect_compound_columns_to_be_unique", "(table)"): 2,
        ("expect_column_values_to_be_between", "score"): 1,
    }
    assert outcome.rows == 4


def test_every_date_needs_its_all_row_and_its_weights(conn):
    conn.execute(
        "create table marts.portfolio_kpis as select * from (values (date '2026-03-01', 'all', 0.9, 0.1), "
        "(date '2026-03-02', 'enterprise', 0.9, 0.1)) as t(as_of_date, segment, logo_retention, churn_rate)"
    )
    assert validate_snapshot(conn, "portfolio_kpis", D).success
    assert not validate_snapshot(conn, "portfolio_kpis", E).success
    assert not validate_snapshot(conn, "portfolio_kpis", [D, E]).success
    conn.execute("insert into marts.portfolio_kpis values (date '2026-03-02', 'all', 0.8, 0.2)")
    assert validate_snapshot(conn, "portfolio_kpis", [D, E]).success
    conn.execute(
        "create table marts.indicator_weights as select * from (values "
        "(date '2026-03-01', 'account', 'default', 'a', 1.0)) as t(as_of_date, subject, profile, indicator, weight)"
    )
    assert not validate_weights(conn, [D, E]).success  # no weights at all on E
    conn.execute("insert into marts.indicator_weights values (date '2026-03-02', 'account', 'default', 'a', 1.0)")
    assert validate_weights(conn, [D, E]).success


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({dt.date(2026, 2, 1): 10, D: 6, E: 4}, [True, True]),  # 6 and 4 are within 50 % of 10 and of 6
        ({dt.date(2026, 2, 1): 10, D: 4, E: 4}, [False, True]),  # 4 after 10 is not
        ({dt.date(2026, 2, 1): 10, E: 10}, [False, True]),  # D has no rows; E compares with 2026-02-01
        ({D: 100, E: 160}, [True, False]),  # the first snapshot has nothing to compare with
    ],
)
def test_row_counts_of_several_dates_match_one_date_at_a_time(conn, counts, expected):
    conn.execute("create table marts.portfolio_kpis (as_of_date date, n integer)")
    for day, n in counts.items():
        conn.execute("insert into marts.portfolio_kpis select ?, i from range(?) t(i)", [day, n])
    assert [validate_row_count(conn, "portfolio_kpis", day).success for day in (D, E)] == expected
    assert validate_row_count(conn, "portfolio_kpis", [D, E]).success == all(expected)


def test_a_failing_date_is_named_and_the_others_pass(conn):
    import dagster as dg

    _scores(conn, [(D, "A1", 50.0), (E, "A1", 150.0)])
    key = dg.AssetKey(["marts", "account_scores"])
    per_date = checks.mart_check_results(conn, key, [D, E])
    assert {day: [r.passed for r in results] for day, results in per_date.items()} == {
        D: [True, True],
        E: [False, True],
    }
    merged = {r.check_name: r for r in checks.merge_check_results(per_date)}
    assert not merged["gx_snapshot_valid"].passed and merged["gx_row_count_stable"].passed
    assert merged["gx_snapshot_valid"].metadata["failed_dates"].value == E.isoformat()


@pytest.mark.integration
def test_a_failed_blocking_check_stops_the_publish(generated_data, tmp_path, monkeypatch):
    db = tmp_path / "kam.duckdb"
    assert run_pipeline(generated_data, db, AS_OF - dt.timedelta(days=1)).success
    published = db.read_bytes()

    def failing(conn, table, as_of):
        outcome = validate_snapshot(conn, table, as_of)
        if table == "account_scores":
            return SuiteOutcome(
                False, outcome.rows, [{"expectation": "forced", "column": "score", "unexpected": 1, "sample": "x"}]
            )
        return outcome

    monkeypatch.setattr(checks, "validate_snapshot", failing)
    result = run_pipeline(generated_data, db, AS_OF)
    assert not result.success or not any(
        e.step_key == "published_snapshot" and e.is_step_success for e in result.all_events
    )
    assert db.read_bytes() == published  # the previous snapshot is still what BI sees
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [ev for ev in evaluations if not ev.passed]
    assert [(ev.asset_key.to_user_string(), ev.check_name) for ev in failed] == [
        ("marts/account_scores", "gx_snapshot_valid")
    ]
