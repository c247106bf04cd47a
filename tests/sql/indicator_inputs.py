"""The hand-made staging rows shared by the tests of the account indicator SQL (the intermediate
models and marts.account_indicators); every expected value is worked out by hand in those tests.

As-of date D = 2025-03-01, W = 365:
C = [2024-03-01, 2025-03-01), P = [2023-03-02, 2024-03-01), churn window [2024-09-02, 2025-03-01).
C holds 306 days of 2024 (a leap year, 366 days) and 59 days of 2025, so market_year = 2024.
"""

from __future__ import annotations

from datetime import date, datetime

from sql_fixtures import AS_OF, insert_staging

D = AS_OF
C_START = date(2024, 3, 1)  # D - W
P_START = date(2023, 3, 2)  # D - 2W
DAYS_2024, DAYS_2025 = 306, 59  # days of C in each year
MONTHS_IN_C = 12  # Mar 2024 .. Feb 2025


def order_row(order_id, line_no, day, category, net, cost, status, account="acc_a"):
    return {
        "order_id": order_id,
        "line_no": line_no,
        "account_id": account,
        "order_date": day,
        "product_category": category,
        "quantity": 1.0,
        "net_amount": net,
        "cost_amount": cost,
        "status": status,
    }


def account_row(account_id, name, segment, industry, region, manager_id, since):
    return {
        "account_id": account_id,
        "account_name": name,
        "segment": segment,
        "industry": industry,
        "region": region,
        "manager_id": manager_id,
        "since": since,
    }


def survey_row(response_id, account_id, day, overall, pq, sq, pv, resp, recommend):
    return {
        "response_id": response_id,
        "account_id": account_id,
        "responded_on": day,
        "overall": overall,
        "product_quality": pq,
        "service_quality": sq,
        "price_value": pv,
        "responsiveness": resp,
        "recommend": recommend,
    }


def complaint_row(complaint_id, account_id, opened, resolved, severity):
    return {
        "complaint_id": complaint_id,
        "account_id": account_id,
        "opened_at": opened,
        "resolved_at": resolved,
        "severity": severity,
        "category": "delivery",
    }


def invoice_row(invoice_id, account_id, issued, due, paid, amount):
    return {
        "invoice_id": invoice_id,
        "account_id": account_id,
        "issued_on": issued,
        "due_on": due,
        "paid_on": paid,
        "amount": amount,
    }


def load(conn):
    """The shared hand-made data set (see the module docstring for the windows)."""
    insert_staging(
        conn,
        "managers",
        [
            {"manager_id": "m1", "manager_name": "Ann", "team_id": "t1", "team_name": "North"},
            {"manager_id": "m2", "manager_name": "Bob", "team_id": "t2", "team_name": "South"},
        ],
    )
    insert_staging(
        conn,
        "accounts",
        [
            account_row("acc_a", "Alpha", "enterprise", "retail", "north", "m1", date(2020, 3, 1)),
            account_row("acc_b", "Beta", "enterprise", "retail", "south", "m2", date(2024, 6, 1)),
            account_row("acc_c", "Gamma", "mid", "retail", "north", "m1", date(2019, 1, 1)),
            account_row("acc_d", "Delta", "mid", "energy", "north", "m2", date(2019, 6, 1)),
            account_row("acc_e", "Epsilon", "small", "energy", "east", "m2", date(2018, 1, 1)),
            # since = D: in the snapshot; manager unknown to staging.managers -> team_id NULL
            account_row("acc_n", "Nil", "small", "retail", "north", "m9", date(2025, 3, 1)),
            # since = D + 1: not in the snapshot
            account_row("acc_f", "Future", "small", "retail", "north", "m1", date(2025, 3, 2)),
        ],
    )
    insert_staging(
        conn,
        "orders",
        [
            # Alpha
            order_row("a1", 1, date(2024, 3, 1), "widgets", 120, 70, "completed"),  # D - W: in C
            order_row("a1", 2, date(2024, 3, 1), "gadgets", 80, None, "completed"),  # no cost
            order_row("a2", 1, date(2025, 2, 28), "widgets", 100, 60, "completed"),  # D - 1: in C
            order_row("a2", 2, date(2025, 2, 28), "widgets", 30, 18, "returned"),  # positive return -> -30
            order_row("a3", 1, date(2025, 3, 1), "widgets", 1000, 1, "completed"),  # on D: excluded
            order_row("a4", 1, date(2024, 2, 29), "widgets", 200, 100, "completed"),  # D - W - 1: in P
            order_row("a5", 1, date(2024, 7, 15), "tools", -20, None, "returned"),  # negative return -> -20
            order_row("a6", 1, date(2024, 8, 10), "services", 500, 100, "cancelled"),  # ignored
            order_row("a7", 1, date(2023, 3, 2), "widgets", 100, 50, "completed"),  # first day of P
            order_row("a8", 1, date(2023, 3, 1), "tools", 50, 20, "completed"),  # before P
            # Beta: only C, no cost data
            order_row("b1", 1, date(2024, 6, 15), "widgets", 500, None, "completed", "acc_b"),
            order_row("b1", 2, date(2024, 6, 15), "widgets", 100, None, "completed", "acc_b"),
            # Gamma: revenue in P, nothing completed since 2024-05-01 -> churned
            order_row("g1", 1, date(2023, 6, 1), "widgets", 400, 200, "completed", "acc_c"),
            order_row("g2", 1, date(2024, 5, 1), "widgets", 100, 40, "completed", "acc_c"),
            order_row("g3", 1, date(2024, 9, 2), "gadgets", 100, 40, "returned", "acc_c"),  # returns are no activity
            order_row("g4", 1, date(2024, 12, 1), "gadgets", 300, 10, "cancelled", "acc_c"),
            # Delta: completed exactly on D - churn_days -> not churned; C/P = 3.5 -> capped
            order_row("d1", 1, date(2024, 9, 2), "widgets", 70, 70, "completed", "acc_d"),
            order_row("d3", 1, date(2023, 12, 1), "widgets", 20, None, "completed", "acc_d"),
            # Epsilon: one completed line long before P -> churned
            order_row("e1", 1, date(2022, 1, 1), "tools", 10, 5, "completed", "acc_e"),
            # Future: not in the snapshot
            order_row("f1", 1, date(2024, 10, 1), "widgets", 999, 1, "completed", "acc_f"),
        ],
    )
    insert_staging(
        conn,
        "wallet",
        [
            {"account_id": "acc_a", "year": 2023, "wallet_amount": 1e9},  # outside C: ignored
            {"account_id": "acc_a", "year": 2024, "wallet_amount": 366000.0},
            {"account_id": "acc_a", "year": 2025, "wallet_amount": 730000.0},
            {"account_id": "acc_b", "year": 2024, "wallet_amount": 36600.0},  # 2025 missing
            {"account_id": "acc_d", "year": 2023, "wallet_amount": 999.0},  # no year of C -> NULL
            {"account_id": "acc_e", "year": 2025, "wallet_amount": 730.0},  # 2024 missing
        ],
    )
    insert_staging(
        conn,
        "market",
        [
            {"industry": "retail", "region": "north", "year": 2023, "market_size": 800000.0},
            {"industry": "retail", "region": "north", "year": 2024, "market_size": 1000000.0},
            {"industry": "retail", "region": "north", "year": 2025, "market_size": 5000000.0},  # minority year
            {"industry": "retail", "region": "south", "year": 2024, "market_size": 300.0},  # no 2023
            {"industry": "energy", "region": "north", "year": 2023, "market_size": 0.0},  # previous = 0
            {"industry": "energy", "region": "north", "year": 2024, "market_size": 100.0},
        ],
    )
    insert_staging(
        conn,
        "surveys",
        [
            survey_row("s1", "acc_a", date(2024, 3, 1), 5, 4, 3, None, 5, 10),
            survey_row("s2", "acc_a", date(2025, 2, 28), 3, 2, None, None, 4, 6),
            survey_row("s5", "acc_a", date(2024, 10, 1), None, 5, 5, None, None, 9),
            survey_row("s3", "acc_a", date(2025, 3, 1), 1, 1, 1, 1, 1, 0),  # on D: excluded
            survey_row("s4", "acc_a", date(2024, 2, 29), 1, 1, 1, 1, 1, 0),  # in P: excluded
            survey_row("s6", "acc_b", date(2024, 12, 1), 4, None, None, None, None, None),
        ],
    )
    insert_staging(
        conn,
        "complaints",
        [
            complaint_row("c1", "acc_a", datetime(2024, 3, 1, 0, 0), datetime(2024, 3, 2, 12, 0), "high"),
            complaint_row("c2", "acc_a", datetime(2025, 2, 20, 8, 0), datetime(2025, 3, 5, 0, 0), "critical"),
            complaint_row("c3", "acc_a", datetime(2025, 2, 28, 12, 0), None, "low"),
            complaint_row("c4", "acc_a", datetime(2024, 6, 1, 0, 0), datetime(2024, 6, 7, 0, 0), "medium"),
            complaint_row("c7", "acc_a", datetime(2025, 2, 27, 0, 0), datetime(2025, 3, 1, 0, 0), "high"),
            complaint_row("c5", "acc_a", datetime(2024, 2, 29, 23, 0), None, "critical"),  # before C
            complaint_row("c6", "acc_a", datetime(2025, 3, 1, 0, 0), None, "critical"),  # at D 00:00
            complaint_row("c8", "acc_e", datetime(2024, 5, 1, 10, 0), datetime(2024, 5, 1, 20, 0), "low"),
        ],
    )
    insert_staging(
        conn,
        "invoices",
        [
            invoice_row("i1", "acc_a", date(2024, 3, 1), date(2024, 3, 31), date(2024, 3, 25), 100),  # on time
            invoice_row("i2", "acc_a", date(2024, 5, 1), date(2024, 5, 31), date(2024, 6, 10), 200),  # 10 days late
            invoice_row("i3", "acc_a", date(2025, 1, 15), date(2025, 2, 14), date(2025, 3, 1), 300),  # paid on D
            invoice_row("i4", "acc_a", date(2025, 2, 20), date(2025, 3, 22), None, 400),  # not yet due
            invoice_row("i7", "acc_a", date(2025, 2, 1), date(2025, 3, 1), None, 500),  # due on D: not late
            invoice_row("i5", "acc_a", date(2024, 2, 29), date(2024, 3, 30), None, 1000),  # issued in P
            invoice_row("i6", "acc_a", date(2025, 3, 1), date(2025, 3, 2), None, 1000),  # issued on D
            invoice_row("i9", "acc_e", date(2024, 4, 1), date(2024, 5, 1), date(2024, 5, 1), 0),  # amount 0
        ],
    )
