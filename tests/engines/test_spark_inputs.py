"""Inputs named in `sources.yaml` (`engines/inputs.py`): a Hive-partitioned Parquet dataset and a table of the
Spark session's catalog give the same published figures as the same rows delivered as CSV files; a
wrong input fails in one line naming the file and the key, before any data is read."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_spark_parity import TABLES, _differences, _rows

from kam_pipeline.cli import main
from kam_pipeline.demo.generate import generate_dataset
from test_cli import kam

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 6, 2)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("inputs_csv")
    generate_dataset(data, accounts=10, days=300, seed=11, end=AS_OF - dt.timedelta(days=1))
    return data


@pytest.fixture(scope="module")
def csv_run(delivered: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("inputs_csv_db") / "kam.duckdb"
    assert main(["run", "--data", str(delivered), "--db", str(db), "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    return db


def _lake(delivered: Path, folder: Path) -> Path:
    """The data folder without its order files, and the order lines (all of them, the daily files too) as
    a Parquet dataset partitioned by status under `folder/lake/orders/status=.../`."""
    shutil.copytree(delivered, folder / "data")
    orders = sorted((folder / "data").glob("orders*.csv"))
    (folder / "lake").mkdir()
    with duckdb.connect() as conn:
        files = ", ".join(f"'{p}'" for p in orders)
        conn.execute(
            f"copy (select * from read_csv([{files}], all_varchar = true)) "
            f"to '{folder / 'lake' / 'orders'}' (format parquet, partition_by (status))"
        )
    for path in orders:
        path.unlink()
    return folder / "data"


def _same_published(expected_db: Path, db: Path) -> None:
    for table in TABLES:
        columns, expected = _rows(expected_db, table)
        got_columns, got = _rows(db, table)
        assert got_columns == columns
        assert len(got) == len(expected) > 0, table
        assert _differences(columns, expected, got) == [], table


def test_a_hive_partitioned_parquet_dataset_on_duckdb(delivered, csv_run, tmp_path):
    data = _lake(delivered, tmp_path)
    assert len(list((tmp_path / "lake" / "orders").glob("status=*"))) == 3
    (data / "sources.yaml").write_text("orders:\n  parquet: ../lake/orders\n", encoding="utf-8")
    db = tmp_path / "db" / "kam.duckdb"
    assert main(["run", "--data", str(data), "--db", str(db), "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    _same_published(csv_run, db)
    with duckdb.connect(str(db.with_name("kam.work.duckdb")), read_only=True) as conn:
        files = conn.execute("select file_name from raw.ingest_log where source = 'orders'").fetchall()
    assert files == [("orders.parquet",)]


def test_a_parquet_dataset_and_a_catalog_table_on_spark(delivered, csv_run, tmp_path, spark):
    data = _lake(delivered, tmp_path)
    # invoices as a table of the session's catalog, stored under tmp_path; the data folder has no invoices.
    invoices = spark.read.csv(str(data / "invoices.csv"), header=True)
    spark.sql(f"create database if not exists kam_lake location '{tmp_path / 'warehouse'}'")
    invoices.write.mode("overwrite").saveAsTable("kam_lake.invoices")
    (data / "invoices.csv").unlink()
    (data / "sources.yaml").write_text(
        "orders:\n  parquet: ../lake/orders\ninvoices:\n  table: kam_lake.invoices\n", encoding="utf-8"
    )
    db = tmp_path / "db" / "kam.duckdb"
    code = main(
        ["run", "--engine", "spark", "--data", str(data), "--db", str(db), "--as-of", AS_OF.isoformat(), "--quiet"]
    )
    assert code == 0
    _same_published(csv_run, db)
    work = db.with_name("kam.work.duckdb")
    with duckdb.connect(str(work), read_only=True) as conn:
        staged = conn.execute("select count(*) from staging.invoices").fetchone()[0]
        archived = dict(conn.execute("select source, path from raw.archived_files").fetchall())
        logged = conn.execute(
            "select * from raw.ingest_log where source in ('orders', 'invoices') order by all"
        ).fetchall()
    assert staged == spark.table("kam_lake.invoices").count() > 0
    # Both were staged on Spark (their archived text is a folder Spark wrote), none copied for polars.
    for source in ("orders", "invoices"):
        assert (Path(archived[source]) / "_SUCCESS").is_file(), source
    assert not work.with_name("kam.work.duckdb.inputs").exists()
    # The next day's run finds both unchanged (the listing, the table's files) and reads neither again.
    code = main(["run", "--engine", "spark", "--data", str(data), "--db", str(db), "--as-of", "2026-06-03", "--quiet"])
    assert code == 0
    with duckdb.connect(str(work), read_only=True) as conn:
        again = conn.execute(
            "select * from raw.ingest_log where source in ('orders', 'invoices') order by all"
        ).fetchall()
        assert dict(conn.execute("select source, path from raw.archived_files").fetchall()) == archived
    assert again == logged


def _fails(data: Path, db: Path, *engine: str) -> list[str]:
    proc = kam("run", *engine, "--data", str(data), "--db", str(db), "--as-of", AS_OF.isoformat())
    assert proc.returncode != 0
    assert not db.exists()
    return proc.stderr.strip().splitlines()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("orders:\n  parquet: lake/nowhere\n", "orders.parquet: {data}/lake/nowhere: no such file or folder"),
        ("orders:\n  parquet: empty\n", "orders.parquet: {data}/empty: the folder holds no .parquet file"),
        # Spark leaves out what a lakehouse writes beside its data (here a Delta checkpoint), and so does the check.
        ("orders:\n  parquet: delta\n", "orders.parquet: {data}/delta: the folder holds no .parquet file (none under"),
        ("orders:\n  parquet: accounts.csv\n", "orders.parquet: {data}/accounts.csv: not a .parquet file"),
        ("orders:\n  table: 'sales orders'\n", "orders.table: 'sales orders' is not a table name"),
        ("orders:\n  table: a.b\n  parquet: empty\n", "orders: 'parquet' and 'table' name two inputs of one source"),
        ("orders:\n  tabel: a.b\n", "orders.tabel: unknown key (did you mean 'table'?"),
    ],
)
def test_a_wrong_input_fails_in_one_line_before_any_data_is_read(delivered, tmp_path, yaml_text, message):
    data = tmp_path / "data"
    shutil.copytree(delivered, data)
    (data / "empty").mkdir()
    (data / "delta" / "_delta_log").mkdir(parents=True)
    pl.DataFrame({"add": ["x"]}).write_parquet(
        data / "delta" / "_delta_log" / "00000000000000000010.checkpoint.parquet"
    )
    (data / "sources.yaml").write_text(yaml_text, encoding="utf-8")
    (line,) = _fails(data, tmp_path / "kam.duckdb")
    assert line.startswith(f"kam: error: invalid sources mapping: {data / 'sources.yaml'}: ")
    assert message.format(data=data.resolve()) in line


def test_a_catalog_table_on_the_duckdb_engine_fails_in_one_line(delivered, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(delivered, data)
    (data / "sources.yaml").write_text("invoices:\n  table: finance.invoices\n", encoding="utf-8")
    assert _fails(data, tmp_path / "kam.duckdb") == [
        f"kam: error: invalid sources mapping: {data / 'sources.yaml'}: invoices.table: a table of Spark's "
        "catalog is read by the Spark engine only (--engine spark or KAM_ENGINE=spark; the DuckDB engine "
        "reads a Parquet dataset with 'parquet:')"
    ]
