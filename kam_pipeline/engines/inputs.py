"""Inputs named in `sources.yaml` instead of the data folder's files: a Parquet dataset or a catalog table.

A source whose part of sources.yaml has `parquet: <path>` (a file, or a folder of files, Hive-partitioned
folders such as `year=2025/` included) or `table: <name>` (a table of the Spark session's catalog) is read
from there. Two ways:

- Copied (`prepare_input`): the engine copies the dataset's rows into one Parquet file, `<source>.parquet`,
  in a folder of the run's own (`<working database>.inputs/<source>/`), and the ingest loads that folder's
  file as it loads a delivered Parquet file (archive, row numbers, typing, row rules, quarantine, reloaded
  when its content changes). DuckDB copies a Parquet dataset (on either engine); a catalog table needs
  the Spark engine, which copies it. Every source on the DuckDB engine, the small ones on the Spark engine.
- Staged on Spark (`engines/spark_inputs.py`, the large sources on the Spark engine): read where it lies,
  with the same staged and quarantined rows as the copy gives, and not read again while unchanged.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import duckdb

from kam_pipeline.ingest.mapping import SourceMapping, parquet_files
from kam_pipeline.ingest.rules_sql import lit


def inputs_dir(work_path: Path, source: str) -> Path:
    """The folder of a source's copied dataset: `<working database>.inputs/<source>`."""
    return work_path.with_name(work_path.name + ".inputs") / source


def copy_with_duckdb(mapping: SourceMapping, out: Path) -> None:
    """Write the Parquet dataset of `mapping` into the file `out` with DuckDB (Hive partitions as columns)."""
    files = ", ".join(lit(str(file)) for file in parquet_files(mapping.parquet))
    with duckdb.connect() as conn:
        conn.execute(
            f"copy (select * from read_parquet([{files}], hive_partitioning = true, union_by_name = true)) "
            f"to {lit(str(out))} (format parquet)"
        )


def copy_with_spark(mapping: SourceMapping, out: Path, master: str) -> None:
    """Write the catalog table of `mapping` into the file `out` with Spark (one task writes it)."""
    from kam_pipeline.engines.spark import spark_session

    spark = spark_session(master)
    written = out.with_name(out.name + ".spark")
    shutil.rmtree(written, ignore_errors=True)
    spark.table(mapping.table).coalesce(1).write.mode("overwrite").parquet(str(written.resolve()))
    (part,) = written.glob("part-*.parquet")
    part.replace(out)
    shutil.rmtree(written, ignore_errors=True)


def prepare_input(mapping: SourceMapping, engine: str, master: str, work_path: Path) -> Path:
    """Copy the source's named dataset into `<working database>.inputs/<source>/<source>.parquet`; return
    the folder, which the ingest then reads as the source's data folder."""
    folder = inputs_dir(work_path, mapping.source)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{mapping.source}.parquet"
    staged = out.with_name(out.name + ".new")
    # A Parquet path is copied by DuckDB on either engine: the driver lists it anyway (its signature), and
    # DuckDB reads what Spark's reader refuses (timestamps in nanoseconds).
    if mapping.table:
        copy_with_spark(mapping, staged, master)
    else:
        copy_with_duckdb(mapping, staged)
    # Left as it was when the rows did not change: the ingest then finds the file unchanged.
    if out.exists() and filecmp.cmp(out, staged, shallow=False):
        staged.unlink()
    else:
        staged.replace(out)
    return folder
