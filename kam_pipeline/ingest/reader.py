"""Find, read and type the delivered files of one source.

Files are read with polars as text (so the raw layer keeps what was delivered),
then cast column by column; a cell that does not parse becomes a quarantine
reason naming its row, column and value instead of failing the file.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

from kam_pipeline.ingest.contract import SOURCES, Source
from kam_pipeline.ingest.schemas import MODELS

ROW = "_row_number"
_SUFFIXES = (".csv", ".parquet")
_TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


class UnreadableFile(Exception):
    """A delivered file that cannot be loaded at all; the message says why."""


@dataclass(frozen=True)
class DeliveredFile:
    """A file found in the data folder for a source, with what identifies its content."""

    path: Path
    source: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


def discover(data_dir: Path, source: str) -> list[DeliveredFile]:
    """Return the files of `source` in `data_dir` (`<source>.csv|parquet`, `<source>_*.csv|parquet`), sorted by name."""
    root = data_dir.resolve()
    pattern = re.compile(rf"^{re.escape(source)}(_.+)?\.(csv|parquet)$", re.IGNORECASE)
    found = []
    for path in sorted(root.iterdir()):
        if not pattern.match(path.name) or not path.is_file():
            continue
        # A symlink may point anywhere; only files that really live in the folder are read.
        if not path.resolve().is_relative_to(root):
            continue
        stat = path.stat()
        found.append(DeliveredFile(path, source, stat.st_size, stat.st_mtime_ns))
    return found


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_as_text(path: Path) -> pl.DataFrame:
    """Return the file's rows with every column as text; raise UnreadableFile with the reason."""
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
            return frame.select(pl.all().cast(pl.String))
        try:
            return pl.read_csv(path, infer_schema=False)
        except pl.exceptions.ComputeError as exc:
            if "utf-8" not in str(exc).lower():
                raise
        # Not UTF-8: GB18030 (a superset of GBK and GB2312) is the other encoding the contract allows.
        try:
            text = path.read_bytes().decode("gb18030")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("not valid UTF-8 or GB18030 text") from exc
        return pl.read_csv(io.StringIO(text), infer_schema=False)
    except UnreadableFile:
        raise
    except pl.exceptions.NoDataError:
        return pl.DataFrame()
    except Exception as exc:  # polars/arrow raise many types for a broken file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(first_line[:300]) from exc


def check_columns(frame: pl.DataFrame, spec: Source) -> None:
    """Raise UnreadableFile when a column the contract requires is absent."""
    present = {c.strip().lower() for c in frame.columns}
    missing = [c.name for c in spec.columns if c.name not in present and not (c.nullable or c.default)]
    if missing:
        raise UnreadableFile(f"missing required column(s): {', '.join(missing)}")


def normalise_header(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the frame with trimmed, lower-case column names (header cells often carry spaces)."""
    return frame.rename({c: c.strip().lower() for c in frame.columns})


def _cast_expr(name: str, sql_type: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    text = pl.when(text == "").then(None).otherwise(text)
    if sql_type == "VARCHAR":
        return text
    if sql_type == "DATE":
        return text.str.to_date("%Y-%m-%d", strict=False)
    if sql_type == "TIMESTAMP":
        parsed = [text.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in _TIMESTAMP_FORMATS]
        # Offsets (Z, +08:00) are converted to UTC so all timestamps compare on one clock.
        parsed.append(
            text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
        return pl.coalesce(parsed)
    number = text.cast(pl.Float64, strict=False)
    if sql_type in ("BIGINT", "INTEGER"):
        return pl.when(number == number.round(0)).then(number).otherwise(None).cast(pl.Int64, strict=False)
    return pl.when(number.is_finite()).then(number)


_TYPE_WORDS = {
    "DATE": "a date (YYYY-MM-DD)",
    "TIMESTAMP": "an ISO 8601 timestamp",
    "BIGINT": "a whole number",
    "INTEGER": "a whole number",
}


def cast_to_contract(frame: pl.DataFrame, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type a text frame by the contract.

    Returns (typed frame with the contract columns plus `_row_number`, failures with
    columns `_row_number`, `column`, `rule`, `value`): one failure per cell that did not parse.
    """
    spec = SOURCES[source]
    delivered = frame.select(
        pl.col(ROW),
        *[
            (pl.col(c.name) if c.name in frame.columns else pl.lit(c.default, dtype=pl.String)).alias(c.name)
            for c in spec.columns
        ],
    )
    typed = delivered.select(pl.col(ROW), *[_cast_expr(c.name, c.sql_type).alias(c.name) for c in spec.columns])
    failures = []
    for col in spec.columns:
        if col.sql_type == "VARCHAR":
            continue
        text = delivered.get_column(col.name).str.strip_chars()
        bad = text.is_not_null() & (text != "") & typed.get_column(col.name).is_null()
        if bad.any():
            word = _TYPE_WORDS.get(col.sql_type, "a number")
            failures.append(
                delivered.filter(bad).select(
                    pl.col(ROW),
                    pl.lit(col.name).alias("column"),
                    pl.lit(f"not {word}").alias("rule"),
                    pl.col(col.name).alias("value"),
                )
            )
    return typed, pl.concat(failures) if failures else _empty_failures()


def _empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema={ROW: pl.Int64, "column": pl.String, "rule": pl.String, "value": pl.String})


def validate_rows(typed: pl.DataFrame, source: str) -> pl.DataFrame:
    """Run the source's pandera model; return failures (`_row_number`, `column`, `rule`, `value`)."""
    if typed.height == 0:
        return _empty_failures()
    try:
        MODELS[source].validate(typed, lazy=True)
        return _empty_failures()
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    # pandera reports positions in the frame; map them back to the file's row numbers.
    positions = typed.select(pl.col(ROW)).with_row_index("index").with_columns(pl.col("index").cast(pl.Int32))
    cases = cases.filter(pl.col("index").is_not_null()).join(positions, on="index", how="left")
    return cases.select(
        pl.col(ROW),
        pl.when(pl.col("schema_context") == "Column").then(pl.col("column")).otherwise(pl.lit("*")).alias("column"),
        pl.col("check").alias("rule"),
        pl.col("failure_case").cast(pl.String).alias("value"),
    )
