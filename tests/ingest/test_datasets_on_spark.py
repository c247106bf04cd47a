"""A large source's Parquet dataset or catalog table named in sources.yaml, staged on Spark
(`engines/inputs.py` SparkDataset, `ingest.load.ingest_dataset`), stages and quarantines what the DuckDB
engine gives the same dataset (its copy loaded as a delivered Parquet file).

The datasets hold the bad-input corpus of the ingestion tests as text (orders, Hive-partitioned, with
unknown columns), and typed Parquet columns with awkward values (doubles written in exponent form, not
finite or beyond the amount limit, decimals, dates, timestamps, booleans, an all-null row). Staged rows,
violations, quarantine rows with their delivered text, raw rows and ingest-log counts must be the same. A
second ingest of an unchanged dataset reads nothing; a changed one is staged again.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_formats import AMOUNTS, DATES
from test_ingest_on_spark import outcome
from test_rules import ROW_RULES
from test_rules_sql import MANAGERS, ROWS, generate

from ingest_support import csv_text, row, rows_of, write
from kam_pipeline.engines.inputs import prepare_input
from kam_pipeline.engines.spark_inputs import NotStagedOnSpark, SparkDataset
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import ingest_dataset, ingest_source
from kam_pipeline.ingest.mapping import SourceMapping

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 1, 8, 0, 0)
LATER = dt.datetime(2026, 1, 2, 8, 0, 0)

# Doubles whose text differs between Java and polars (`1.0E-7` / `1e-7`, `Infinity` / `inf`), one Java 17
# writes with a digit too many (`4.9E-324`), and values the rules quarantine.
DOUBLES = [
    "4.0",
    "-1.0",
    "1e-7",
    "0.00001",
    "1.5e16",
    "1e20",
    "'inf'",
    "'-inf'",
    "'nan'",
    "5e-324",
    "0.30000000000000004",
    "null",
    "-0.0",
    "123456.789",
]


def _text_orders(lake: Path) -> None:
    """The orders corpus as text columns, with an unknown column `note` and a Hive partition `batch`."""
    rows = [{c: text for c, (_, text) in r.items()} for r in generate("orders", 7)]
    rows += [row(s, **cells) for s, cells, _ in ROW_RULES if s == "orders"]
    rows += [row("orders", order_id=f"D{i}", order_date=text) for i, (text, _) in enumerate(DATES)]
    rows += [row("orders", order_id=f"N{i}", net_amount=text) for i, (text, _) in enumerate(AMOUNTS)]
    rows.append(dict.fromkeys(SOURCES["orders"].column_names))  # no value at all: dropped, counted
    frame = pl.DataFrame(
        {
            **{c: [r.get(c) for r in rows] for c in SOURCES["orders"].column_names},
            "note": [None if i % 3 else f"n{i}" for i in range(len(rows))],
            "batch": [i % 2 for i in range(len(rows))],
        },
        schema={**dict.fromkeys(SOURCES["orders"].column_names, pl.String), "note": pl.String, "batch": pl.Int64},
    )
    with duckdb.connect() as conn:
        conn.register("frame", frame)
        conn.execute(f"copy frame to '{lake / 'orders'}' (format parquet, partition_by (batch))")


def _typed(lake: Path, source: str, select: str, name: str = "part-0.parquet") -> None:
    (lake / source).mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        conn.execute(f"copy ({select}) to '{lake / source / name}' (format parquet)")


def _typed_surveys(lake: Path) -> None:
    values = ", ".join(f"({i}, {v})" for i, v in enumerate(DOUBLES))
    _typed(
        lake,
        "surveys",
        f"""
        select 'S' || i as response_id, 'A' || (i % {ROWS}) as account_id,
               date '2024-02-01' + i::int as responded_on,
               v::double as overall, (i % 12)::bigint as recommend, (i / 4)::decimal(10, 3) as service_quality,
               case when i % 5 = 0 then null else v::double * 3 end as price_value,
               i % 2 = 0 as answered, timestamp '2024-02-01 10:00:00.5' + to_seconds(i) as seen
        from (values {values}) t (i, v)
        union all select null, null, null, null, null, null, null, null, null
        """,
    )


def _typed_complaints(lake: Path) -> None:
    _typed(
        lake,
        "complaints",
        f"""
        select 'C' || i as complaint_id, 'A' || (i % {ROWS}) as account_id,
               timestamp '2024-03-01 10:00:00' + to_seconds(i * 3600) as opened_at,
               -- every third one resolved before it was opened
               timestamp '2024-03-01 12:00:00.25' + to_seconds((i % 3 - 1) * 7200) as resolved_at,
               ['high', 'low', 'urgent'][1 + i % 3] as severity, 'delivery' as category
        from range(9) t (i)
        """,
    )


def _typed_invoices(lake: Path, name: str = "part-0.parquet", first: int = 0) -> None:
    _typed(
        lake,
        "invoices",
        f"""
        select 'I' || i as "Invoice No", 'A' || (i % {ROWS + 2}) as account_id,
               date '2024-01-10' + i::int as issued_on, date '2024-02-10' - (i * 7)::int as due_on,
               case when i % 2 = 0 then timestamp '2024-02-01 00:00:00' end as paid_on,
               [500.25, -3, 1e20, 0.00375, 12345678.9][1 + i % 5]::decimal(38, 5) as amount
        from range({first}, {first} + 10) t (i)
        """,
        name,
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    folder = tmp_path / "lake"
    folder.mkdir()
    _text_orders(folder)
    _typed_surveys(folder)
    _typed_complaints(folder)
    _typed_invoices(folder)
    return folder


def _reference_data(data_dir: Path) -> None:
    managers = [row("managers", manager_id=f"M{m}") for m in range(MANAGERS)]
    accounts = [row("accounts", account_id=f"A{a}", manager_id=f"M{a % MANAGERS}") for a in range(ROWS)]
    write(data_dir, "managers.csv", csv_text("managers", managers))
    write(data_dir, "accounts.csv", csv_text("accounts", accounts))


DATASET_SOURCES = ("orders", "surveys", "complaints", "invoices")


def _mapping(source: str, lake: Path) -> SourceMapping:
    """The source's dataset under `lake`; the invoices deliver their key under a header sources.yaml maps."""
    if source == "invoices":
        return SourceMapping(source, {"invoice no": "invoice_id"}, {"invoice_id": "Invoice No"}, parquet=lake / source)
    return SourceMapping(source, parquet=lake / source)


def _on_duckdb(db: Path, data_dir: Path, lake: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(conn, data_dir, source, now=NOW)
    for source in DATASET_SOURCES:
        mapping = _mapping(source, lake)
        folder = prepare_input(mapping, "duckdb", "local[2]", db)
        ingest_source(conn, folder, source, now=NOW, mapping=mapping)
    return conn


def _on_spark(conn: duckdb.DuckDBPyConnection, db: Path, mapping: SourceMapping, now: dt.datetime = NOW):
    return ingest_dataset(conn, mapping.source, mapping, SparkDataset(mapping, "local[2]", db), now=now)


def _full(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, list[tuple]]:
    """outcome() and the delivered text: the quarantine rows whole, raw.<source> without the load time."""
    return {
        **outcome(conn, source),
        "quarantined": rows_of(conn, f"select * from quarantine.{source} order by _source_file, _row_number"),
        "raw": rows_of(
            conn, f"select * exclude (_ingested_at, _extra), _extra::varchar from raw.{source} order by _row_number"
        ),
    }


def _staged_by_spark(conn: duckdb.DuckDBPyConnection, source: str) -> Path:
    """The archived text of the source's dataset: a folder Spark wrote (its part files and _SUCCESS)."""
    ((path,),) = rows_of(conn, "select path from raw.archived_files where source = ?", [source])
    folder = Path(path)
    assert folder.is_dir() and (folder / "_SUCCESS").is_file(), path
    assert list(folder.glob("part-*.parquet")), path
    return folder


def test_a_parquet_dataset_stages_and_quarantines_on_spark_what_duckdb_does(spark, tmp_path, data_dir, lake):
    _reference_data(data_dir)
    (tmp_path / "duckdb").mkdir()
    (tmp_path / "spark").mkdir()
    on_duckdb = _on_duckdb(tmp_path / "duckdb" / "kam.duckdb", data_dir, lake)
    db = tmp_path / "spark" / "kam.duckdb"
    on_spark = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(on_spark, data_dir, source, now=NOW)
    for source in DATASET_SOURCES:
        report = _on_spark(on_spark, db, _mapping(source, lake))
        assert [(f.file, f.status) for f in report.files] == [(f"{source}.parquet", "loaded")]
    for source in DATASET_SOURCES:
        got, expected = _full(on_spark, source), _full(on_duckdb, source)
        assert len(expected["quarantined"]) > 0 and len(expected["typed"]) > 0, source
        for part in expected:
            only = [r for r in got[part] if r not in expected[part]], [r for r in expected[part] if r not in got[part]]
            assert got[part] == expected[part], f"{source} {part}: Spark only {only[0][:3]}, DuckDB only {only[1][:3]}"
        _staged_by_spark(on_spark, source)
    # Nothing was copied for DuckDB's readers, and the typed rows handed over are removed.
    assert not db.with_name("kam.duckdb.inputs").exists()
    assert not list(db.with_name("kam.duckdb.spark").glob("ingest/*"))
    # The text DuckDB's reader of the copy gives the doubles (polars' forms), quoted as delivered.
    reasons = dict(rows_of(on_spark, "select response_id, reason from quarantine.surveys"))
    assert reasons["S6"] == "overall: not a number (value 'inf'); price_value: not a number (value 'inf')"
    assert reasons["S8"] == "overall: not a number (value 'NaN'); price_value: not a number (value 'NaN')"
    # The header sources.yaml maps is recorded as for a delivered file (quarantine reasons name it).
    mapped = "select file_name, headers from raw.file_mapping where source = 'invoices'"
    assert (
        rows_of(on_spark, mapped) == rows_of(on_duckdb, mapped) == [("invoices.parquet", {"invoice_id": "Invoice No"})]
    )


def test_an_unchanged_dataset_is_not_read_again_and_a_changed_one_is(spark, tmp_path, data_dir, lake):
    _reference_data(data_dir)
    db = tmp_path / "kam.duckdb"
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(conn, data_dir, source, now=NOW)
    mapping = _mapping("invoices", lake)
    _on_spark(conn, db, mapping)
    archived = _staged_by_spark(conn, "invoices")
    first = rows_of(conn, "select * from raw.ingest_log where source = 'invoices'")

    class Unread(SparkDataset):
        def frame(self):
            raise AssertionError("an unchanged dataset was read")

    report = ingest_dataset(conn, "invoices", mapping, Unread(mapping, "local[2]", db), now=LATER)
    assert [(f.file, f.status) for f in report.files] == [("invoices.parquet", "unchanged")]
    assert rows_of(conn, "select * from raw.ingest_log where source = 'invoices'") == first
    assert _staged_by_spark(conn, "invoices") == archived
    # A new file in the dataset: staged again with its rows, the previous archive swept.
    _typed_invoices(lake, "part-1.parquet", first=10)
    report = _on_spark(conn, db, mapping, now=LATER)
    assert [(f.file, f.status, f.rows_read) for f in report.files] == [("invoices.parquet", "loaded", 20)]
    assert _staged_by_spark(conn, "invoices") != archived and not archived.exists()
    # A file rewritten in place with the same size is told by its modification time.
    path = lake / "invoices" / "part-1.parquet"
    _typed_invoices(lake, "part-1.parquet", first=20)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    report = _on_spark(conn, db, mapping, now=LATER)
    assert [(f.file, f.status) for f in report.files] == [("invoices.parquet", "loaded")]
    assert rows_of(conn, "select count(*) from staging.invoices_typed where invoice_id = 'I25'") == [(1,)]
    assert rows_of(conn, "select count(*) from staging.invoices_typed where invoice_id = 'I15'") == [(0,)]


def test_a_catalog_table_is_staged_on_spark_and_read_again_only_when_its_files_change(spark, tmp_path, data_dir, lake):
    _reference_data(data_dir)
    (tmp_path / "duckdb").mkdir()
    on_duckdb = _on_duckdb(tmp_path / "duckdb" / "kam.duckdb", data_dir, lake)
    spark.sql(f"create database if not exists kam_datasets location '{tmp_path / 'warehouse'}'")
    spark.read.parquet(str(lake / "surveys")).coalesce(1).write.mode("overwrite").saveAsTable("kam_datasets.surveys")
    db = tmp_path / "kam.duckdb"
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(conn, data_dir, source, now=NOW)
    mapping = SourceMapping("surveys", table="kam_datasets.surveys")
    _on_spark(conn, db, mapping)
    # One file, so its rows are numbered in the order of the dataset DuckDB read.
    for part, rows in _full(on_duckdb, "surveys").items():
        assert _full(conn, "surveys")[part] == rows, part
    _staged_by_spark(conn, "surveys")
    report = _on_spark(conn, db, mapping, now=LATER)
    assert [f.status for f in report.files] == ["unchanged"]
    spark.sql(
        "insert into kam_datasets.surveys (response_id, account_id, responded_on) values ('S99', 'A1', date'2024-05-01')"
    )
    spark.catalog.refreshTable("kam_datasets.surveys")
    report = _on_spark(conn, db, mapping, now=LATER)
    # The row with no value at all is not read; the inserted one is.
    assert [(f.status, f.rows_read) for f in report.files] == [("loaded", len(DOUBLES) + 1)]
    spark.sql("drop table kam_datasets.surveys")


def test_a_column_type_whose_text_is_not_mirrored_is_refused_before_anything_is_written(spark, tmp_path, data_dir):
    _reference_data(data_dir)
    lake = tmp_path / "lake"
    _typed(
        lake,
        "surveys",
        "select 'S1' as response_id, 'A1' as account_id, date '2024-01-01' as responded_on, 1.5::float as overall",
    )
    db = tmp_path / "kam.duckdb"
    conn = duckdb.connect(str(db))
    ingest_source(conn, data_dir, "managers", now=NOW)
    with pytest.raises(NotStagedOnSpark, match=r"'overall' \(float\)"):
        _on_spark(conn, db, SourceMapping("surveys", parquet=lake / "surveys"))
    assert rows_of(conn, "select count(*) from raw.ingest_log where source = 'surveys'") == [(0,)]


def _complaints_frame(first: int, unit: str) -> pl.DataFrame:
    """Complaints with timestamps in `unit` (ms, ns: what other writers than Spark and DuckDB give), every
    third one resolved before it was opened (quarantined)."""
    ids = range(first, first + 6)
    opened = [dt.datetime(2024, 3, 1, 10) + dt.timedelta(hours=i, milliseconds=250 * i) for i in ids]
    return pl.DataFrame(
        {
            "complaint_id": [f"C{i}" for i in ids],
            "account_id": [f"A{i % ROWS}" for i in ids],
            "opened_at": opened,
            "resolved_at": [
                t + dt.timedelta(hours=i % 3 - 1, microseconds=123) for i, t in zip(ids, opened, strict=True)
            ],
            "severity": ["high", "low", "urgent"] * 2,
            "category": ["delivery"] * 6,
        },
        schema_overrides={"opened_at": pl.Datetime(unit), "resolved_at": pl.Datetime(unit)},
    )


def _compare_with_duckdb(tmp_path: Path, data_dir: Path, mapping: SourceMapping, on_spark: dict) -> None:
    """The source's staged, quarantined and raw rows on Spark are those the DuckDB engine gives the dataset."""
    db = tmp_path / "duckdb" / "kam.duckdb"
    db.parent.mkdir()
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(conn, data_dir, source, now=NOW)
    ingest_source(conn, prepare_input(mapping, "duckdb", "local[2]", db), mapping.source, now=NOW, mapping=mapping)
    expected = _full(conn, mapping.source)
    assert len(expected["quarantined"]) > 0 and len(expected["typed"]) > 0
    for part in expected:
        assert on_spark[part] == expected[part], part


def _ingested_on_spark(tmp_path: Path, data_dir: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    _reference_data(data_dir)
    db = tmp_path / "spark" / "kam.duckdb"
    db.parent.mkdir()
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(conn, data_dir, source, now=NOW)
    return conn, db


def test_what_a_lakehouse_writes_beside_its_data_is_left_out_and_its_partitions_decoded_as_on_duckdb(
    spark, tmp_path, data_dir
):
    """Millisecond timestamps, a Hive folder with an escaped value (`region=Nord%20Ost` is `Nord Ost`), and
    the files and folders Spark's listing leaves out (`_SUCCESS`, `.crc` files, `_delta_log/` of a folder that
    is not read as Delta, `_temporary/`, hidden files), some of them Parquet files of other columns."""
    lake = tmp_path / "lake" / "complaints"
    (lake / "region=Nord%20Ost").mkdir(parents=True)
    _complaints_frame(0, "ms").write_parquet(lake / "region=Nord%20Ost" / "part-0.parquet")
    # Spark's own writer: part-*.parquet with _SUCCESS and a .crc file beside each.
    spark.createDataFrame(_complaints_frame(6, "us").to_arrow()).coalesce(1).write.parquet(str(lake / "region=West"))
    assert (lake / "region=West" / "_SUCCESS").is_file() and list((lake / "region=West").glob(".*.crc"))
    (lake / "_delta_log").mkdir()
    (lake / "_delta_log" / "00000000000000000000.json").write_text("{}\n")
    pl.DataFrame({"add": ["x"]}).write_parquet(lake / "_delta_log" / "00000000000000000010.checkpoint.parquet")
    (lake / "region=West" / "_temporary" / "0").mkdir(parents=True)
    _complaints_frame(90, "us").write_parquet(lake / "region=West" / "_temporary" / "0" / "part-9.parquet")
    pl.DataFrame({"complaint_id": ["HIDDEN"]}).write_parquet(lake / ".hidden.parquet")
    pl.DataFrame({"complaint_id": ["TMP"]}).write_parquet(lake / "_tmp.parquet")
    mapping = SourceMapping("complaints", parquet=lake)
    conn, db = _ingested_on_spark(tmp_path, data_dir)
    report = _on_spark(conn, db, mapping)
    assert [(f.file, f.status, f.rows_read) for f in report.files] == [("complaints.parquet", "loaded", 12)]
    got = _full(conn, "complaints")
    # Independently of either engine: the decoded partition value, the milliseconds as delivered.
    regions = rows_of(conn, "select distinct json_extract_string(_extra, '$.region') from raw.complaints order by 1")
    assert regions == [("Nord Ost",), ("West",)]
    assert ("C1", "2024-03-01 11:00:00.250000") in rows_of(conn, "select complaint_id, opened_at from raw.complaints")
    _compare_with_duckdb(tmp_path, data_dir, mapping, got)


def _refused_then_copied(tmp_path: Path, data_dir: Path, lake: Path, refusal: str) -> duckdb.DuckDBPyConnection:
    """The complaints dataset `lake` is refused by the Spark staging with `refusal`, then copied and loaded as
    on the DuckDB engine, with what that engine gives; return the Spark engine's connection."""
    mapping = SourceMapping("complaints", parquet=lake)
    conn, db = _ingested_on_spark(tmp_path, data_dir)
    with pytest.raises(NotStagedOnSpark, match=refusal):
        _on_spark(conn, db, mapping)
    ingest_source(conn, prepare_input(mapping, "spark", "local[2]", db), "complaints", now=NOW, mapping=mapping)
    _compare_with_duckdb(tmp_path, data_dir, mapping, _full(conn, "complaints"))
    return conn


def test_a_hive_value_with_an_escaped_utf8_byte_is_copied_by_duckdb_which_decodes_it(spark, tmp_path, data_dir):
    """Spark reads `region=S%C3%BCd` as `SÃ¼d` (each escaped byte a Latin-1 character); DuckDB as `Süd`."""
    lake = tmp_path / "lake" / "complaints"
    for region, first in (("Nord", 0), ("S%C3%BCd", 6)):
        (lake / f"region={region}").mkdir(parents=True)
        _complaints_frame(first, "us").write_parquet(lake / f"region={region}" / "part-0.parquet")
    conn = _refused_then_copied(tmp_path, data_dir, lake, r"escaped non-ASCII byte \(region=S%C3%BCd\)")
    regions = rows_of(conn, "select distinct json_extract_string(_extra, '$.region') from raw.complaints order by 1")
    assert regions == [("Nord",), ("Süd",)]


def test_nanosecond_timestamps_which_spark_does_not_read_are_copied_by_duckdb_on_either_engine(
    spark, tmp_path, data_dir
):
    lake = tmp_path / "lake" / "complaints"
    lake.mkdir(parents=True)
    _complaints_frame(0, "ns").write_parquet(lake / "part-0.parquet")
    conn = _refused_then_copied(tmp_path, data_dir, lake, r"Spark cannot read it \(.*TIMESTAMP\(NANOS")
    opened = rows_of(conn, "select complaint_id, opened_at from raw.complaints")
    assert ("C1", "2024-03-01 11:00:00.250000000") in opened
