"""Parity: `kam run --engine spark` and the DuckDB engine publish the same marts, every column within 1e-9 relative.

Generated data with the cases that broke the first translation: returned and cancelled lines, complaints
still open, accounts without surveys, ratings left blank, and a backfill of several as-of dates in one run
(the month count of active_month_ratio and the running sums over a range)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import pytest

from kam_pipeline.cli import main
from kam_pipeline.demo.generate import generate_dataset

FIRST, LAST = dt.date(2026, 5, 29), dt.date(2026, 6, 2)
# Published tables compared, each with the columns that identify a row.
TABLES = {
    "account_indicators": ("as_of_date", "account_id"),
    "account_scores": ("as_of_date", "account_id"),
    "portfolio_kpis": ("as_of_date", "segment"),
    "manager_scores": ("as_of_date", "manager_id"),
}


def _rows(db: Path, table: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        relation = conn.execute(f"select * from marts.{table} order by all")
        columns = [d[0] for d in relation.description]
        return columns, relation.fetchall()


def _differences(columns: list[str], left: list[tuple], right: list[tuple]) -> list[str]:
    """Each cell that differs: floats beyond 1e-9 relative, anything else unequal or of another type."""
    found = []
    for a, b in zip(left, right, strict=True):
        for column, x, y in zip(columns, a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                same = math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0) or (math.isnan(x) and math.isnan(y))
            else:
                same = type(x) is type(y) and x == y
            if not same:
                found.append(f"{column}: {x!r} (duckdb) != {y!r} (spark) in {a[:2]}")
    return found


@pytest.fixture(scope="module")
def nasty_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("parity_data")
    generate_dataset(data, accounts=30, days=500, seed=9, end=LAST - dt.timedelta(days=1))
    with duckdb.connect() as conn:
        # The cases must be there for the comparison to mean anything.
        statuses = dict(conn.execute(f"select status, count(*) from '{data}/orders.csv' group by status").fetchall())
        assert statuses.get("returned", 0) > 10 and statuses.get("cancelled", 0) > 10
        # Open at an as-of date of the run: not resolved, or resolved on or after it.
        open_complaints = conn.execute(
            f"select count(*) from '{data}/complaints.csv' where opened_at < date '{LAST}' "
            f"and (resolved_at is null or resolved_at >= date '{FIRST}')"
        ).fetchone()[0]
        assert open_complaints > 0
        assert (
            conn.execute(
                f"select count(*) from '{data}/surveys.csv' where recommend is null or product_quality is null"
            ).fetchone()[0]
            > 0
        )
        surveyed = conn.execute(
            f"select count(distinct account_id) from '{data}/surveys.csv' where responded_on >= date '{LAST}' - 365"
        ).fetchone()[0]
        assert surveyed < 30  # some accounts have no survey in the window
    return data


@pytest.fixture(scope="module")
def published(nasty_data: Path, tmp_path_factory: pytest.TempPathFactory, spark) -> dict[str, Path]:
    """The published file of one backfill run FIRST..LAST per engine."""
    out = tmp_path_factory.mktemp("parity_db")
    dbs = {}
    for engine in ("duckdb", "spark"):
        dbs[engine] = out / engine / "kam.duckdb"
        code = main(
            ["run", "--engine", engine, "--data", str(nasty_data), "--db", str(dbs[engine])]
            + ["--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--quiet"]
        )
        assert code == 0
    return dbs


@pytest.mark.integration
@pytest.mark.parametrize("table", TABLES)
def test_spark_engine_publishes_what_duckdb_publishes(published: dict[str, Path], table: str):
    columns, duck_rows = _rows(published["duckdb"], table)
    spark_columns, spark_rows = _rows(published["spark"], table)
    assert spark_columns == columns
    dates = {row[columns.index("as_of_date")] for row in duck_rows}
    assert len(dates) == (LAST - FIRST).days + 1
    assert len(spark_rows) == len(duck_rows) > 0
    assert _differences(columns, duck_rows, spark_rows) == []


@pytest.mark.integration
def test_the_spark_run_computed_the_figures_on_spark(published: dict[str, Path], spark):
    """Spark really ran: the run wrote the staged rows it read as Parquet next to the working database,
    and the same order figures come out of them on Spark as from DuckDB's table."""
    assert not published["duckdb"].with_name("kam.work.duckdb.spark").exists()
    folder = published["spark"].with_name("kam.work.duckdb.spark") / "staging"
    assert (folder / "staging_orders.parquet").is_file()
    with duckdb.connect(str(published["spark"].with_name("kam.work.duckdb")), read_only=True) as conn:
        staged = conn.execute("select count(*) from staging.orders").fetchone()[0]
    assert spark.read.parquet(str(folder / "staging_orders.parquet")).count() == staged
