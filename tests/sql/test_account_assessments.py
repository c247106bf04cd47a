"""sql/marts/account_assessments.sql on hand-made ratings. D = 2025-03-01, W = 365: C = [2024-03-01, 2025-03-01)."""

from __future__ import annotations

from datetime import date

from sql_fixtures import AS_OF, assert_rows, insert_staging, make_db, run_mart


def _account(account_id, since):
    return {
        "account_id": account_id,
        "account_name": account_id.upper(),
        "segment": "enterprise",
        "industry": "retail",
        "region": "north",
        "manager_id": "m1",
        "since": since,
    }


def _rating(account_id, day, assessor, dimension, score):
    return {"account_id": account_id, "assessed_on": day, "assessor": assessor, "dimension": dimension, "score": score}


def test_latest_date_in_window_per_dimension(tmp_path):
    conn = make_db(tmp_path)
    insert_staging(conn, "managers", [{"manager_id": "m1", "manager_name": "Ann", "team_id": "t1", "team_name": "T"}])
    insert_staging(
        conn,
        "accounts",
        [
            _account("acc_a", date(2020, 1, 1)),
            _account("acc_b", date(2025, 3, 1)),  # since = D: in the snapshot
            _account("acc_f", date(2025, 3, 2)),  # since after D: left out
        ],
    )
    insert_staging(
        conn,
        "assessments",
        [
            # credit_risk of acc_a: two dates in C, the later one (two assessors) wins
            _rating("acc_a", date(2024, 5, 1), "x", "credit_risk", 2),
            _rating("acc_a", date(2024, 11, 1), "x", "credit_risk", 4),
            _rating("acc_a", date(2024, 11, 1), "y", "credit_risk", 5),
            _rating("acc_a", date(2025, 3, 1), "z", "credit_risk", 1),  # on D: excluded
            # strategic_importance: D - W is in C, the day before is not
            _rating("acc_a", date(2024, 3, 1), "x", "strategic_importance", 3),
            _rating("acc_a", date(2024, 2, 29), "y", "strategic_importance", 5),
            # innovation: only on D -> no row
            _rating("acc_a", date(2025, 3, 1), "x", "innovation", 5),
            # one assessor twice on the same day: both ratings averaged and counted
            _rating("acc_b", date(2024, 12, 1), "x", "credit_risk", 1),
            _rating("acc_b", date(2024, 12, 1), "x", "credit_risk", 2),
            _rating("acc_f", date(2024, 12, 1), "x", "credit_risk", 5),
        ],
    )

    expected = [
        {
            "as_of_date": AS_OF,
            "account_id": "acc_a",
            "dimension": "credit_risk",
            "score": ((4 + 5) / 2 - 1) / 4 * 100,  # 87.5
            "assessor_count": 2,
            "assessed_on": date(2024, 11, 1),
        },
        {
            "as_of_date": AS_OF,
            "account_id": "acc_a",
            "dimension": "strategic_importance",
            "score": (3 - 1) / 4 * 100,
            "assessor_count": 1,
            "assessed_on": date(2024, 3, 1),
        },
        {
            "as_of_date": AS_OF,
            "account_id": "acc_b",
            "dimension": "credit_risk",
            "score": ((1 + 2) / 2 - 1) / 4 * 100,
            "assessor_count": 2,
            "assessed_on": date(2024, 12, 1),
        },
    ]
    assert_rows(run_mart(conn, "account_assessments"), expected, key=("account_id", "dimension"))


def test_no_assessments_no_rows(tmp_path):
    conn = make_db(tmp_path)
    insert_staging(conn, "accounts", [_account("acc_a", date(2020, 1, 1))])
    assert run_mart(conn, "account_assessments") == []
