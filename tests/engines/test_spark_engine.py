"""The Spark engine's intermediate models against DuckDB's, on hand-made staged rows with the edge cases
of each source, for a range of as-of dates across a month end (the running sums of a backfill)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import duckdb

from kam_pipeline.defs.assets.marts import intermediate_order
from kam_pipeline.engines.spark import intermediate_on_spark, staging_dir
from kam_pipeline.warehouse.database import write_sql_snapshot
from sql_fixtures import DEFAULT_PARAMS, insert_staging, make_db

DATES = [dt.date(2025, 2, 27), dt.date(2025, 3, 1), dt.date(2025, 3, 3)]
PARAMS = {**DEFAULT_PARAMS, "as_of": DATES[-1], "as_of_dates": DATES}
D = dt.date


def _order(order_id, line_no, account, day, status="completed", net="100.00", cost="60.00", category="pipes"):
    return {
        "order_id": order_id,
        "line_no": line_no,
        "account_id": account,
        "order_date": day,
        "product_category": category,
        "quantity": 1.0,
        "net_amount": Decimal(net),
        "cost_amount": None if cost is None else Decimal(cost),
        "status": status,
    }


def _stage(conn: duckdb.DuckDBPyConnection) -> None:
    account = {"segment": "key", "industry": "retail", "region": "north", "manager_id": "M1"}
    insert_staging(
        conn,
        "accounts",
        [
            {"account_id": "A", "account_name": "Alpha", "since": D(2020, 1, 1), **account},
            {"account_id": "B", "account_name": "Beta", "since": D(2023, 6, 1), **account, "region": "south"},
            # Joins between the first and the last as-of date: no row before it.
            {"account_id": "C", "account_name": "Gamma", "since": D(2025, 2, 28), **account},
        ],
    )
    insert_staging(
        conn,
        "orders",
        [
            _order("O1", 1, "A", D(2024, 5, 2)),
            _order("O1", 2, "A", D(2024, 5, 2), category="valves", cost=None),
            _order("O2", 1, "A", D(2023, 12, 31), net="250.50", cost="100.25"),  # in P
            _order("O3", 1, "A", D(2024, 5, 20), status="returned", net="40.00", cost="20.00"),  # positive return
            _order("O4", 1, "A", D(2024, 6, 1), status="returned", net="-15.00", cost="-5.00"),
            _order("O5", 1, "A", D(2024, 7, 1), status="cancelled", net="999.00"),
            _order("O6", 1, "A", D(2025, 2, 28), category="fittings"),  # between two as-of dates
            _order("O7", 1, "A", D(2025, 3, 3)),  # on the last as-of date: never read
            _order("O8", 1, "B", D(2024, 2, 28), cost=None),  # leaves C within the range
            _order("O9", 1, "B", D(2024, 3, 2), net="12.34", cost="0.00"),
            _order("O10", 1, "C", D(2025, 3, 1), category="tools"),
        ],
    )
    insert_staging(
        conn,
        "invoices",
        [
            {"invoice_id": "I1", "account_id": "A", "issued_on": D(2024, 6, 1), "due_on": D(2024, 7, 1), "paid_on": D(2024, 6, 20), "amount": Decimal("100.00")},
            {"invoice_id": "I2", "account_id": "A", "issued_on": D(2024, 12, 1), "due_on": D(2025, 1, 1), "paid_on": D(2025, 1, 20), "amount": Decimal("300.00")},
            {"invoice_id": "I3", "account_id": "A", "issued_on": D(2025, 1, 20), "due_on": D(2025, 2, 28), "paid_on": None, "amount": Decimal("50.00")},
            {"invoice_id": "I4", "account_id": "B", "issued_on": D(2025, 1, 1), "due_on": D(2025, 2, 1), "paid_on": D(2025, 3, 2), "amount": Decimal("75.50")},
            {"invoice_id": "I5", "account_id": "B", "issued_on": D(2024, 2, 28), "due_on": D(2024, 3, 30), "paid_on": None, "amount": Decimal("10.00")},
        ],
    )  # fmt: skip
    ts = dt.datetime
    insert_staging(
        conn,
        "complaints",
        [
            {"complaint_id": "K1", "account_id": "A", "opened_at": ts(2024, 11, 1, 9, 15), "resolved_at": ts(2024, 11, 2, 10, 0, 30), "severity": "critical", "category": "delivery"},
            {"complaint_id": "K2", "account_id": "A", "opened_at": ts(2025, 2, 20, 8), "resolved_at": None, "severity": "low", "category": "quality"},
            {"complaint_id": "K3", "account_id": "B", "opened_at": ts(2025, 2, 25, 12), "resolved_at": ts(2025, 3, 2, 12), "severity": "high", "category": "billing"},
            {"complaint_id": "K4", "account_id": "B", "opened_at": ts(2024, 3, 1, 0), "resolved_at": ts(2024, 3, 5, 0), "severity": "medium", "category": "billing"},
        ],
    )  # fmt: skip
    rating = {"product_quality": 4.0, "service_quality": 3.0, "price_value": 5.0, "responsiveness": 2.0}
    insert_staging(
        conn,
        "surveys",
        [
            {"response_id": "S1", "account_id": "A", "responded_on": D(2024, 9, 1), "overall": 5.0, "recommend": 10.0, **rating},
            {"response_id": "S2", "account_id": "A", "responded_on": D(2025, 1, 5), "overall": 3.0, "recommend": 6.0, **rating, "price_value": None},
            {"response_id": "S3", "account_id": "A", "responded_on": D(2025, 2, 28), "overall": None, "recommend": None, **rating},
            {"response_id": "S4", "account_id": "B", "responded_on": D(2024, 3, 1), "overall": 4.0, "recommend": 8.0, **rating},
        ],
    )  # fmt: skip
    insert_staging(
        conn,
        "wallet",
        [
            {"account_id": "A", "year": 2024, "wallet_amount": 1000.0},
            {"account_id": "A", "year": 2025, "wallet_amount": 1300.0},
            {"account_id": "B", "year": 2025, "wallet_amount": 700.0},  # 2024 missing: scaled up
        ],
    )
    insert_staging(
        conn,
        "market",
        [
            {"industry": "retail", "region": "north", "year": 2023, "market_size": 5000.0},
            {"industry": "retail", "region": "north", "year": 2024, "market_size": 5600.0},
            {"industry": "retail", "region": "south", "year": 2024, "market_size": 0.0},
        ],
    )


def _rows(conn: duckdb.DuckDBPyConnection, name: str) -> tuple[list[tuple], list[tuple]]:
    types = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'intermediate' and table_name = ? order by ordinal_position",
        [name],
    ).fetchall()
    return types, conn.execute(f"select * from intermediate.{name} order by all").fetchall()


def _same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0)
    return type(x) is type(y) and x == y


def test_every_intermediate_model_on_spark_gives_duckdbs_rows(tmp_path: Path, spark):
    duck_dir, spark_dir = tmp_path / "duckdb", tmp_path / "spark"
    duck_dir.mkdir(), spark_dir.mkdir()
    duck, on_spark = make_db(duck_dir), make_db(spark_dir)
    _stage(duck), _stage(on_spark)
    names = intermediate_order()
    assert len(names) == 7
    for name in names:
        write_sql_snapshot(duck, name, PARAMS, layer="intermediate")
    work = spark_dir / "test.duckdb"
    counts = intermediate_on_spark(on_spark, "local[2]", work, names, [PARAMS])
    assert (staging_dir(work) / "staging_orders.parquet").is_file()
    for name in names:
        duck_types, duck_rows = _rows(duck, name)
        spark_types, spark_rows = _rows(on_spark, name)
        assert spark_types == duck_types, name
        assert len(spark_rows) == len(duck_rows) > 0, name
        assert counts[name] == sum(row[0] == DATES[-1] for row in duck_rows), name
        for a, b in zip(duck_rows, spark_rows, strict=True):
            assert all(_same(x, y) for x, y in zip(a, b, strict=True)), f"{name}: {a} (duckdb) != {b} (spark)"
    # An independent check that the data holds what the comparison is about: account A's revenue at
    # 2025-03-03 is its completed and returned lines of [2024-03-03, 2025-03-03), returns negative,
    # the cancelled line and the line dated on the as-of date left out.
    revenue = on_spark.execute(
        "select revenue from intermediate.account_order_figures where account_id = 'A' and as_of_date = ?", [DATES[-1]]
    ).fetchone()[0]
    assert revenue == Decimal("100.00") * 2 - Decimal("40.00") - Decimal("15.00") + Decimal("100.00")
