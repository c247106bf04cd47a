"""The typing and row rules of the large sources on Spark: a delivered CSV file read and staged by Spark.

Under the Spark engine, a plain UTF-8 CSV file of orders, invoices, complaints or surveys (the
sources that grow with the business) is read by Spark from its archived copy, with the row numbers DuckDB's
reader gives (`delivered_frame`), and typed and checked by the same generated SQL DuckDB runs
(`rules_sql.stage_query`, translated by `spark_sql.to_spark`). The staged rows, each with the
row rules it broke in `_violations`, come back as Parquet, which DuckDB inserts into
staging.<source>_typed; quarantine.rule_violations is filled from `_violations` in DuckDB as on
the DuckDB engine. Every other file (other sources, Excel, Parquet, another encoding, blank lines
inside, and what DuckDB's reader would not take either: a ragged row, bytes that are not UTF-8, a
quoted line break) is read by the DuckDB engine's readers.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kam_pipeline.engines.spark import error_line, log, spark_session
from kam_pipeline.engines.spark_sql import to_spark
from kam_pipeline.ingest.contract import SOURCES, Source
from kam_pipeline.ingest.raw_load import FastPathFailed
from kam_pipeline.ingest.rules_sql import VIOLATIONS_TYPE, lit, stage_query
from kam_pipeline.ingest.schemas import MODELS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# The sources staged on Spark: those that grow with the business (complaints' timestamps with an
# offset, `+08:00`, are converted to UTC by the translation of DuckDB's %z, engines/spark_sql.py).
SPARK_SOURCES = frozenset({"orders", "invoices", "complaints", "surveys"})


class SparkReadFailed(FastPathFailed):
    """Spark could not read the file as DuckDB's reader would (a ragged row, text that is not UTF-8):
    the ingest reads it with polars, as it does when DuckDB's reader gives up."""


def delivered_frame(spark: SparkSession, spec: Source, path: Path, file_name: str, columns: list[str]) -> DataFrame:
    """The CSV file's rows as raw.<source> holds them (contract columns as text, `_source_file`,
    `_row_number`), numbered as DuckDB's reader numbers them: data rows from 1 in file order, a row
    with no value at all dropped but counted.

    `columns` names each delivered header cell in file order. The file is read as one task
    (`multiLine`: a quoted field may span lines, so the file cannot be split by lines), which keeps
    its records in file order for the numbering; a row wider than the header fails the read.
    Only the contract columns are read: `_extra` is not needed for staging (raw.<source> reads it
    from the archived copy).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(f"c{i}", StringType()) for i in range(1, len(columns) + 1)])
    raw = spark.read.csv(
        str(path.resolve()),
        schema=schema,
        header=True,
        multiLine=True,
        quote='"',
        escape='"',
        mode="FAILFAST",
        encoding="UTF-8",
        enforceSchema=True,
    )
    # DuckDB reads a quoted empty field as NULL too.
    cells = [F.when(F.col(f"c{i}") != "", F.col(f"c{i}")).alias(f"c{i}") for i in range(1, len(columns) + 1)]
    numbered = raw.select(*cells, (F.monotonically_increasing_id() + 1).alias("_row_number"))
    positions = {name: f"c{i}" for i, name in enumerate(columns, start=1)}
    return numbered.where(F.greatest(*[F.col(p).isNotNull() for p in positions.values()])).select(
        *[(F.col(positions[c]) if c in positions else F.lit(None).cast("string")).alias(c) for c in spec.column_names],
        F.lit(file_name).alias("_source_file"),
        F.col("_row_number"),
    )


def _duckdb_would_not_read(frame: DataFrame, columns: list[str]) -> bool:
    """Whether DuckDB's reader gives up on the file, so the ingest reads it with polars: a cell holds
    U+FFFD (Spark's reader replaces bytes that are not UTF-8 with it, where DuckDB's stops) or a line
    break (a quoted field over several lines, which DuckDB's parallel reader does not take).

    The raw.<source> view reads an archived file with DuckDB's reader, so a file it cannot read
    must be loaded as on the DuckDB engine."""
    from pyspark.sql import functions as F

    bad = F.greatest(*[F.coalesce(F.col(c).rlike("[\ufffd\n\r]"), F.lit(False)) for c in columns])
    return bool(frame.where(bad).limit(1).count())


def _numbers_as_duckdb_writes_them(source: str, staged: str) -> str:
    """The query `staged` of Spark's staged rows with each number a reason quotes written as DuckDB writes
    it (`-5e-324`, `1e-07`, where Java writes `-4.9E-324`, `1.0E-7`).

    A reason quotes the typed value of a double or decimal column that breaks one of its checks (`quantity:
    greater_than_or_equal_to(0) (value '-1.0')`); Java's text of a double reads back as the same
    double, which DuckDB then writes in its own form. Delivered text quoted by a type rule is kept.
    """
    spec = SOURCES[source]
    schema = MODELS[source].to_schema()
    quoted = [
        lit(f"{name}\x1f{check.error}")
        for name, column in schema.columns.items()
        if spec.column(name).sql_type not in ("VARCHAR", "DATE", "TIMESTAMP", "BIGINT", "INTEGER")
        for check in column.checks
    ]
    if not quoted:
        return staged
    key = "v.\"column\" || '\x1f' || v.rule"
    rewritten = (
        f"case when {key} in ({', '.join(quoted)}) then "
        "{'column': v.\"column\", 'rule': v.rule, 'value': cast(cast(v.value as double) as varchar)} else v end"
    )
    return (
        f"select * replace (list_transform(_violations, lambda v: {rewritten})::{VIOLATIONS_TYPE} as _violations) "
        f"from ({staged})"
    )


def stage_frame(
    spark: SparkSession, spec: Source, frame: DataFrame, out: Path, values: dict[str, dict[str, str]]
) -> str:
    """Type and check the text rows `frame` (raw.<source>'s contract columns, `_source_file`, `_row_number`)
    with the generated row-rule SQL, translated, into Parquet under `out`; return the DuckDB query of them."""
    view = f"delivered_{spec.name}"
    frame.createOrReplaceTempView(view)
    started = time.perf_counter()
    staged = spark.sql(to_spark(stage_query(spec.name, f"select * from {view}", values)))
    analysed = time.perf_counter()
    staged.write.mode("overwrite").parquet(str(out.resolve()))
    log.debug(
        "spark staging %s: translated and analysed %.2f s, typed, checked and written as Parquet %.2f s",
        spec.name, analysed - started, time.perf_counter() - analysed,
    )  # fmt: skip
    return _numbers_as_duckdb_writes_them(
        spec.name, f"select * from read_parquet({lit(str(out.resolve() / '*.parquet'))})"
    )


def ingest_dir(work_path: Path) -> Path:
    """Where Spark writes the staged rows of a file for DuckDB: `<working database>.spark/ingest`."""
    return work_path.with_name(work_path.name + ".spark") / "ingest"


class SparkStager:
    """Stages a plain CSV file of a large source on Spark (`stage`), for the DuckDB ingest to insert."""

    def __init__(self, master: str, work_path: Path) -> None:
        self.master = master
        self.folder = ingest_dir(work_path)

    def takes(self, source: str) -> bool:
        return source in SPARK_SOURCES

    def stage(
        self, spec: Source, path: Path, file_name: str, columns: list[str], values: dict[str, dict[str, str]]
    ) -> str:
        """Type and check the file's rows on Spark into Parquet; return the DuckDB query of the staged rows
        (staging.<source>_typed's columns with `_violations`). Raises SparkReadFailed (see the class)."""
        spark = spark_session(self.master)
        frame = delivered_frame(spark, spec, path, file_name, columns)
        try:
            started = time.perf_counter()
            if _duckdb_would_not_read(frame, spec.column_names):
                raise SparkReadFailed("not UTF-8 text, or a quoted line break")
            scanned = time.perf_counter()
            query = stage_frame(spark, spec, frame, self.folder / spec.name, values)
            log.debug(
                "spark staging %s (%s): read and scanned %.2f s, translated, analysed, typed, checked "
                "and written as Parquet %.2f s",
                spec.name, file_name, scanned - started, time.perf_counter() - scanned,
            )  # fmt: skip
        except SparkReadFailed:
            raise
        except Exception as exc:  # py4j reports the reader's malformed-row error as a Java exception
            raise SparkReadFailed(error_line(exc)) from None
        return query

    def clean(self, source: str) -> None:
        """Remove the Parquet staged for `source` (once DuckDB holds its rows)."""
        shutil.rmtree(self.folder / source, ignore_errors=True)
