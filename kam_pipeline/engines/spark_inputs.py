"""A large source's Parquet dataset or catalog table named in sources.yaml, staged on Spark where it lies.

Under the Spark engine, orders, invoices, complaints and surveys named by `parquet:` or `table:` are not
copied into one file for the polars readers (`inputs.prepare_input`): Spark reads the dataset or table,
gives every cell the text the copy's reader (polars) would give it, numbers the rows as DuckDB reads the
dataset, and writes that text (the archive of what was loaded, which raw.<source> reads) and the rows
typed and checked by the translated row-rule SQL (`spark_ingest.stage_frame`) as Parquet files; DuckDB
inserts the typed rows (`ingest.load.ingest_dataset`). Nothing of the dataset passes through the driver.
A dataset whose listing (or a table whose files) did not change is not read again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.mapping import SourceMapping, parquet_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class NotStagedOnSpark(Exception):
    """The dataset has what the Spark staging does not mirror (a column type, rows Spark cannot number):
    it is copied and loaded as a delivered Parquet file instead (`prepare_input`)."""


def dataset_file_name(source: str) -> str:
    """The name the ingest gives a source's named dataset (`_source_file`, raw.ingest_log): `<source>.parquet`,
    as on the DuckDB engine, whose copy has that name."""
    return f"{source}.parquet"


def listing_signature(mapping: SourceMapping) -> tuple[str, int, int]:
    """(digest, bytes, newest mtime in ns) of a `parquet:` dataset's listing: each file's path, size and
    mtime. A listing costs a directory walk, where a content hash would read the whole dataset."""
    root = mapping.parquet
    listed = []
    for path in parquet_files(root):
        stat = path.stat()
        listed.append((str(path.relative_to(root)) if path != root else path.name, stat.st_size, stat.st_mtime_ns))
    digest = hashlib.sha256(json.dumps([mapping.dataset, listed]).encode()).hexdigest()
    return digest, sum(s for _, s, _ in listed), max((m for _, _, m in listed), default=0)


def _shortest_float_text(x: str) -> str:
    """Spark SQL of the shortest `%.<p>e` form of the double `x` that reads back as `x` (null for 0, NaN, inf).

    Java 17's `Double.toString` (Spark's cast to text) is not always the shortest (`4.9E-324` for
    `5e-324`, 17 digits where 16 read back); polars writes the shortest, so the digits are found here.
    The precisions are tried in a fold (`aggregate`), which stops formatting once one reads back: 17
    literal branches made the stage's generated code too large for the JVM (Spark then logs the
    compiler's error and runs the stage without generated code).
    """
    form = f"format_string(concat('%.', p, 'e'), {x})"
    return (
        f"case when {x} is null or isnan({x}) or abs({x}) = double('Infinity') or {x} = 0 then null else "
        f"aggregate(sequence(0, 16), cast(null as string), (found, p) -> coalesce(found, "
        f"case when try_cast({form} as double) = {x} then {form} end)) end"
    )


def _with_float_text(frame: DataFrame, name: str) -> DataFrame:
    """The frame with the double column `name` replaced by the text polars gives it cast to String.

    polars writes the shortest digits in plain form for decimal exponents -5 to 15 (`0.00001`,
    `1000000000000000.0`) and as `1e-6`, `1.5e+16` beyond, `inf`, `NaN`. The digits and exponent are
    columns of their own first, so the form's expression reads each once per value.
    """
    from pyspark.sql import functions as F

    x, s, d, e = f"`{name}`", f"`{name}\x00s`", f"`{name}\x00d`", f"`{name}\x00e`"
    frame = frame.withColumn(f"{name}\x00s", F.expr(_shortest_float_text(x)))
    frame = frame.withColumns(
        {
            f"{name}\x00d": F.expr(
                f"regexp_replace(replace(regexp_replace(substring_index({s}, 'e', 1), '^-', ''), '.', ''), '0+$', '')"
            ),
            f"{name}\x00e": F.expr(f"cast(substring_index({s}, 'e', -1) as int)"),
        }
    )
    sign = f"case when {x} < 0 then '-' else '' end"
    exp_form = (
        f"{sign} || left({d}, 1) || case when length({d}) > 1 then '.' || substring({d}, 2) else '' end "
        f"|| 'e' || case when {e} >= 0 then '+' else '-' end || cast(abs({e}) as string)"
    )
    after = f"substring({d}, {e} + 2)"
    plain = (
        f"{sign} || rpad(left({d}, {e} + 1), {e} + 1, '0') || '.' || case when {after} = '' then '0' else {after} end"
    )
    small = f"{sign} || '0.' || repeat('0', -{e} - 1) || {d}"
    text = (
        f"case when {x} is null then null when isnan({x}) then 'NaN' "
        f"when {x} = double('Infinity') then 'inf' when {x} = double('-Infinity') then '-inf' "
        f"when {x} = 0 then cast({x} as string) when {e} >= 16 or {e} < -5 then {exp_form} "
        f"when {e} >= 0 then {plain} else {small} end"
    )
    return frame.withColumn(name, F.expr(text)).drop(f"{name}\x00s", f"{name}\x00d", f"{name}\x00e")


def _unmirrored(data_type: object) -> bool:
    """Whether polars' text of a column of this Spark type is not what `_as_polars_text` gives."""
    from pyspark.sql import types as T

    plain = (
        T.StringType,
        T.VarcharType,
        T.CharType,
        T.ByteType,
        T.ShortType,
        T.IntegerType,
        T.LongType,
        T.BooleanType,
        T.DateType,
        T.DecimalType,  # plain digits with the scale's places, as polars writes them
        T.DoubleType,
        T.TimestampNTZType,
    )
    return not isinstance(data_type, plain)


def _as_polars_text(frame: DataFrame, columns: list[str]) -> DataFrame:
    """The `columns` of `frame` as the text polars gives it (`reader.read_as_text`: each Parquet column cast
    to String), which the typing and row rules then read as they read a delivered Parquet file's."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    for field in frame.schema.fields:
        if field.name not in columns:
            continue
        if isinstance(field.dataType, T.DoubleType):
            frame = _with_float_text(frame, field.name)
        elif isinstance(field.dataType, T.TimestampNTZType):
            # Microseconds (Spark's unit, DuckDB's when it writes Parquet), as polars writes a Datetime("us").
            frame = frame.withColumn(field.name, F.date_format(F.col(f"`{field.name}`"), "yyyy-MM-dd HH:mm:ss.SSSSSS"))
        elif not isinstance(field.dataType, T.StringType):
            frame = frame.withColumn(field.name, F.col(f"`{field.name}`").cast("string"))
    return frame


def _local_path(uri: str) -> str:
    """The path of a file URI as Spark lists it (`file:/lake/a%20b.parquet` -> `/lake/a b.parquet`)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri


def _table_signature(spark, table: str) -> tuple[str | None, int, int]:
    """(digest, bytes, newest mtime) of a catalog table stored as plain Parquet or ORC files (its file listing
    with the sizes and mtimes of the files on a local or mounted path); digest None for any other table
    (Delta, Iceberg, a view, JDBC: what changed is not told by a listing), which is read at every run."""
    details = {row[0]: row[1] for row in spark.sql(f"describe table extended {table}").collect()}
    if str(details.get("Provider", "")).lower() not in ("parquet", "orc"):
        return None, 0, 0
    listed = []
    for uri in sorted(spark.table(table).inputFiles()):
        path = Path(_local_path(uri))
        stat = path.stat() if path.is_absolute() and path.exists() else None
        listed.append((uri, stat.st_size if stat else None, stat.st_mtime_ns if stat else None))
    digest = hashlib.sha256(json.dumps([f"table:{table}", listed]).encode()).hexdigest()
    return digest, sum(s or 0 for _, s, _ in listed), max((m or 0 for _, _, m in listed), default=0)


def _non_ascii_escape(root: Path) -> str | None:
    """The first Hive folder below `root` whose value holds a %-escape of a non-ASCII byte (`region=S%C3%BCd`,
    Süd as other writers than Spark escape it), else None. Spark's writer escapes only ASCII punctuation."""
    for file in parquet_files(root):
        for part in file.relative_to(root).parts[:-1] if file != root else ():
            if "=" in part and re.search(r"%[89a-fA-F][0-9a-fA-F]", part.split("=", 1)[1]):
                return part
    return None


# The columns a dataset's rows are numbered by while Spark reads it: names no dataset column can have.
_FILE, _INDEX = "\x00file", "\x00index"


class SparkDataset:
    """A large source's Parquet dataset or catalog table, staged on Spark (`ingest.load.ingest_dataset`)."""

    def __init__(self, mapping: SourceMapping, master: str, work_path: Path) -> None:
        from kam_pipeline.engines.spark_ingest import ingest_dir

        self.mapping = mapping
        self.master = master
        self.name = dataset_file_name(mapping.source)
        self.folder = ingest_dir(work_path) / mapping.source
        self._frame: DataFrame | None = None

    def frame(self) -> DataFrame:
        """The dataset as Spark reads it: every `.parquet` file below the path (Hive folders as columns, the
        files' schemas merged by name, as DuckDB's reader does), or the catalog table."""
        if self._frame is None:
            from kam_pipeline.engines.spark import spark_session

            spark = spark_session(self.master)
            if self.mapping.table:
                self._frame = spark.table(self.mapping.table)
            else:
                reader = spark.read.option("mergeSchema", "true")
                if self.mapping.parquet.is_dir():
                    reader = reader.option("pathGlobFilter", "*.parquet")
                self._frame = reader.parquet(str(self.mapping.parquet))
        return self._frame

    def check(self) -> None:
        """Raise NotStagedOnSpark when Spark cannot stage the dataset as the copy would load it."""
        from kam_pipeline.engines.spark import error_line

        if self.mapping.parquet and (escaped := _non_ascii_escape(self.mapping.parquet)):
            raise NotStagedOnSpark(
                f"a Hive folder value with an escaped non-ASCII byte ({escaped}), which Spark reads as Latin-1 "
                "characters where DuckDB decodes UTF-8"
            )
        try:
            frame = self.frame()
        except Exception as exc:  # an AnalysisException: a Parquet type Spark does not read (TIMESTAMP(NANOS))
            raise NotStagedOnSpark(f"Spark cannot read it ({error_line(exc)})") from None
        odd = [f"{f.name!r} ({f.dataType.simpleString()})" for f in frame.schema.fields if _unmirrored(f.dataType)]
        if odd:
            raise NotStagedOnSpark(f"column(s) of a type whose text is not mirrored on Spark: {', '.join(odd)}")
        try:
            frame.select("_metadata.file_path", "_metadata.row_index").schema  # noqa: B018 - analysed here
        except Exception as exc:  # an AnalysisException: a table that is no set of Parquet files
            raise NotStagedOnSpark(f"its rows cannot be numbered by file and position ({error_line(exc)})") from None

    def signature(self) -> tuple[str | None, int, int]:
        """(digest, bytes, newest mtime in ns) of what the dataset holds; digest None when not told cheaply."""
        if self.mapping.table:
            from kam_pipeline.engines.spark import spark_session

            return _table_signature(spark_session(self.master), self.mapping.table)
        return listing_signature(self.mapping)

    def header(self) -> list[str]:
        return self.frame().columns

    def stage(self, spec: Source, renames: dict[str, str], raw_folder: Path, values: dict[str, dict[str, str]]) -> str:
        """Write the dataset's rows as text (raw.<source>'s columns without the file name and load time) into
        `raw_folder`, and its typed, checked rows for DuckDB; return the DuckDB query of those (see SparkStager).

        Rows are numbered as DuckDB numbers the copy it reads: files in path order, rows in file order, from 1;
        a row with no value at all is dropped but counted. Spark counts the rows per file first (a read of the
        files' row positions only), so each file's rows are numbered where they are read."""
        from pyspark.sql import functions as F

        from kam_pipeline.engines.spark import log, spark_session
        from kam_pipeline.engines.spark_ingest import stage_frame

        spark = spark_session(self.master)
        started = time.perf_counter()
        frame = self.frame().select(
            "*", F.col("_metadata.file_path").alias(_FILE), F.col("_metadata.row_index").alias(_INDEX)
        )
        counts = sorted(frame.groupBy(_FILE).count().collect(), key=lambda row: _local_path(row[0]))
        offsets, total = [], 0
        for uri, rows in counts:
            offsets.append((uri, total))
            total += rows
        counted = time.perf_counter()
        numbered = frame.join(
            F.broadcast(spark.createDataFrame(offsets, f"`{_FILE}` string, offset long")), _FILE
        ).withColumn("_row_number", F.col("offset") + F.col(f"`{_INDEX}`") + 1)
        data = self.frame().columns
        text = _as_polars_text(numbered.select(*[F.col(f"`{c}`") for c in data], "_row_number"), data)
        named = {renames[c]: F.col(f"`{c}`") for c in data}
        extras = [n for n in named if n not in spec.column_names]
        extra = (
            F.to_json(F.struct(*[named[n].alias(n) for n in extras]), {"ignoreNullFields": "false"})
            if extras
            else F.lit(None).cast("string")
        )
        has_value = functools.reduce(operator.or_, [column.isNotNull() for column in named.values()], F.lit(False))
        raw = text.where(has_value).select(
            *[(named[c] if c in named else F.lit(None).cast("string")).alias(c) for c in spec.column_names],
            extra.alias("_extra"),
            "_row_number",
        )
        raw.write.mode("overwrite").parquet(str(raw_folder.resolve()))
        written = time.perf_counter()
        delivered = spark.read.parquet(str(raw_folder.resolve())).select(
            *spec.column_names, F.lit(self.name).alias("_source_file"), "_row_number"
        )
        query = stage_frame(spark, spec, delivered, self.folder, values)
        log.debug(
            "spark staging %s (%s, %d rows in %d files): counted %.2f s, read as text and archived %.2f s, "
            "typed, checked and written as Parquet %.2f s",
            spec.name, self.mapping.dataset, total, len(counts), counted - started, written - counted,
            time.perf_counter() - written,
        )  # fmt: skip
        return query

    def clean(self) -> None:
        """Remove the typed rows staged for DuckDB (once it holds them)."""
        shutil.rmtree(self.folder, ignore_errors=True)
