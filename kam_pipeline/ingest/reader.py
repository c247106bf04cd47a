"""Find, read and type the delivered files of one source.

Files are read with polars as text (so the raw layer keeps what was delivered),
then cast column by column; a cell that does not parse becomes a quarantine
reason naming its row, column and value instead of failing the file.

Leniency, chosen because people type these files by hand or export them from
spreadsheets, and none of it can change what a value means:
  - header cells are trimmed, lower-cased and inner blanks become `_`
    (`" Order ID"` is `order_id`); a name that then occurs twice fails the file;
  - every cell is trimmed; an empty cell is null, or the column's default (line_no = 1);
  - categorical columns (`Column.choices`: order status, complaint severity,
    reviewer role) are also lower-cased, so `" Completed "` stages as `completed`;
    anything still outside the vocabulary is quarantined;
  - timestamps may carry an offset (`+08:00`, `Z`) and are then converted to UTC;
  - a CSV row with more fields than the header (an unquoted comma) is quarantined
    with its surplus fields instead of failing the whole file.
Row numbers count data rows: row 1 is the first row after the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

from kam_pipeline.ingest.contract import AMOUNT, AMOUNT_LIMIT, SOURCES, Column, Source
from kam_pipeline.ingest.schemas import MODELS, ROW_CHECK_COLUMNS

ROW = "_row_number"
# The row index while a file is read: a name no delivered header can produce, so a delivered
# column called `_row_number` stays an (unknown) column of its own.
INDEX = "__kam_row_index__"
# Holds the fields of a CSV row beyond the header's width (see `_read_ragged_csv`).
SURPLUS = "_surplus_fields"
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
            try:
                frame = pl.read_parquet(path)
            except Exception as exc:
                raise UnreadableFile(f"not a readable Parquet file: {_first_line(exc)}") from exc
            return frame.select(pl.all().cast(pl.String))
        try:
            return pl.read_csv(path, infer_schema=False)
        except pl.exceptions.ComputeError as exc:
            # Recoverable: text that is not UTF-8 (GB18030 is allowed too) and ragged rows.
            if "utf-8" not in str(exc).lower() and not _is_ragged(exc):
                raise
        text = _decode(path.read_bytes())
        try:
            return pl.read_csv(io.StringIO(text), infer_schema=False)
        except pl.exceptions.ComputeError as exc:
            if not _is_ragged(exc):
                raise
        return _read_ragged_csv(text)
    except UnreadableFile:
        raise
    except pl.exceptions.NoDataError:
        return pl.DataFrame()
    except Exception as exc:  # polars/arrow raise many types for a broken file
        raise UnreadableFile(_first_line(exc)) from exc


class StreamFailed(Exception):
    """The streaming reader met something only the whole-file reader handles (encoding, ragged rows)."""


def stream_csv(path: Path, batch_rows: int) -> tuple[list[str], Iterator[pl.DataFrame]] | None:
    """Stream a plain UTF-8 CSV as text frames of at most `batch_rows` rows, with the INDEX column.

    Returns (header, batches), or None when the file needs the whole-file reader; the
    iterator raises StreamFailed if that only shows later in the file. Memory stays
    bounded by one batch however large the file is.
    """
    if path.suffix.lower() != ".csv":
        return None
    try:
        frame = pl.scan_csv(path, infer_schema=False)
        header = frame.collect_schema().names()
    except Exception:
        return None
    if not header:
        return None

    def batches() -> Iterator[pl.DataFrame]:
        try:
            yield from frame.with_row_index(INDEX, offset=1).collect_batches(chunk_size=batch_rows)
        except pl.exceptions.ComputeError as exc:
            raise StreamFailed(str(exc)) from exc

    return header, batches()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _is_ragged(exc: Exception) -> bool:
    return "more fields" in str(exc)


def _decode(data: bytes) -> str:
    # GB18030 is a superset of GBK and GB2312, the other encodings the contract allows.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("not valid UTF-8 or GB18030 text")


def _read_ragged_csv(text: str) -> pl.DataFrame:
    """Parse CSV text whose rows may be wider than the header; surplus fields go to SURPLUS."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return pl.DataFrame()
    header: list[str] = []
    for name in rows[0]:
        # Repeated header cells are named as polars names them, so both readers agree.
        repeats = sum(h == name or h.startswith(f"{name}_duplicated_") for h in header)
        header.append(name if not repeats else f"{name}_duplicated_{repeats - 1}")
    width = len(header)
    columns: dict[str, list[str | None]] = {name: [] for name in [*header, SURPLUS]}
    for row in rows[1:]:
        cells = [cell if cell != "" else None for cell in row]
        cells += [None] * (width - len(cells))
        for name, cell in zip(header, cells, strict=False):
            columns[name].append(cell)
        columns[SURPLUS].append(",".join(c or "" for c in cells[width:]) if len(cells) > width else None)
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


def check_columns(frame: pl.DataFrame, spec: Source) -> None:
    """Raise UnreadableFile when a column the contract requires is absent (header already normalised)."""
    present = set(frame.columns)
    missing = [c.name for c in spec.columns if c.name not in present and not (c.nullable or c.default)]
    if missing:
        raise UnreadableFile(f"missing required column(s): {', '.join(missing)}")


def normalise_header(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the frame with trimmed, lower-case, blank-free column names; raise UnreadableFile on a repeat."""
    names = [re.sub(r"\s+", "_", c.lstrip("\ufeff").strip().lower()) if c != SURPLUS else c for c in frame.columns]
    # polars renames a repeated header cell to `<name>_duplicated_<n>`.
    bases = [re.sub(r"_duplicated_\d+$", "", n) for n in names]
    # Empty header cells (trailing commas of a spreadsheet export) are unknown columns named by position.
    names = [f"_unnamed_{i}" if not b else n for i, (n, b) in enumerate(zip(names, bases, strict=True), start=1)]
    bases = [f"_unnamed_{i}" if not b else b for i, b in enumerate(bases, start=1)]
    repeated = sorted(
        {b for b in bases if bases.count(b) > 1 and b in names} | {n for n in names if names.count(n) > 1}
    )
    if repeated:
        raise UnreadableFile(f"column(s) named twice in the header: {', '.join(repeated)}")
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def _cast_expr(col: Column) -> pl.Expr:
    text = pl.col(col.name).str.strip_chars()
    text = pl.when(text == "").then(None).otherwise(text)
    if col.default is not None:
        text = text.fill_null(pl.lit(col.default))
    if col.sql_type == "VARCHAR":
        return text.str.to_lowercase() if col.choices else text
    if col.sql_type == "DATE":
        return text.str.to_date("%Y-%m-%d", strict=False)
    if col.sql_type == "TIMESTAMP":
        parsed = [text.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in _TIMESTAMP_FORMATS]
        # Offsets (Z, +08:00) are converted to UTC so all timestamps compare on one clock.
        parsed.append(
            text.str.replace(r"[Zz]$", "+00:00")
            .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
        return pl.coalesce(parsed)
    number = text.cast(pl.Float64, strict=False)
    if col.sql_type in ("BIGINT", "INTEGER"):
        # Digits first (exact beyond 2**53), then numbers such as "2.0" that a float export writes.
        whole = pl.when(number == number.round(0)).then(number).otherwise(None).cast(pl.Int64, strict=False)
        return pl.coalesce(text.cast(pl.Int64, strict=False), whole)
    if col.sql_type == AMOUNT:
        return pl.when(number.is_finite() & (number.abs() < AMOUNT_LIMIT)).then(number)
    return pl.when(number.is_finite()).then(number)


_TYPE_WORDS = {
    "DATE": "a date (YYYY-MM-DD)",
    "TIMESTAMP": "an ISO 8601 timestamp",
    "BIGINT": "a whole number",
    "INTEGER": "a whole number",
}


def _cast_rule(col: Column, text: pl.Expr) -> pl.Expr:
    """The reason a non-empty cell of `col` did not type."""
    not_a = pl.lit(f"not {_TYPE_WORDS.get(col.sql_type, 'a number')}")
    if col.sql_type == AMOUNT:
        too_large = text.cast(pl.Float64, strict=False).is_finite()
        out_of_range = pl.lit(f"amount out of range (magnitude must be below {AMOUNT_LIMIT:.0e})")
        return pl.when(too_large).then(out_of_range).otherwise(not_a)
    return not_a


def cast_to_contract(frame: pl.DataFrame, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type a text frame by the contract.

    Returns (typed frame with the contract columns plus `_row_number`, failures with
    columns `_row_number`, `column`, `rule`, `value`): one failure per cell that did not
    parse, and one per row that had more fields than the header.
    """
    spec = SOURCES[source]
    delivered = frame.select(
        pl.col(ROW),
        *[
            (pl.col(c.name) if c.name in frame.columns else pl.lit(c.default, dtype=pl.String)).alias(c.name)
            for c in spec.columns
        ],
    )
    typed = delivered.select(pl.col(ROW), *[_cast_expr(c).alias(c.name) for c in spec.columns])
    failures = []
    if SURPLUS in frame.columns:
        failures.append(
            frame.filter(pl.col(SURPLUS).is_not_null()).select(
                pl.col(ROW),
                pl.lit("*").alias("column"),
                pl.lit("row has more fields than the header").alias("rule"),
                pl.col(SURPLUS).alias("value"),
            )
        )
    for col in spec.columns:
        if col.sql_type == "VARCHAR":
            continue
        text = pl.col(col.name).str.strip_chars()
        bad = text.is_not_null() & (text != "") & typed.get_column(col.name).is_null()
        failures.append(
            delivered.filter(bad).select(
                pl.col(ROW),
                pl.lit(col.name).alias("column"),
                _cast_rule(col, text).alias("rule"),
                pl.col(col.name).alias("value"),
            )
        )
    return typed, pl.concat([_empty_failures(), *failures])


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
    if cases.get_column("index").null_count():
        # A failure without a row (a dtype check) means reader and models disagree: a bug, not bad data.
        whole = cases.filter(pl.col("index").is_null()).select("column", "check").rows()
        raise RuntimeError(f"{source}: contract check failed on a whole column: {whole}")
    cases = cases.join(positions, on="index", how="left")
    is_column = pl.col("schema_context") == "Column"
    failures = cases.select(
        pl.col(ROW),
        pl.when(is_column)
        .then(pl.col("column"))
        .otherwise(pl.col("check").replace_strict(ROW_CHECK_COLUMNS, default="*"))
        .alias("column"),
        pl.col("check").alias("rule"),
        # A check across columns reports the whole row; the reason shows the named column's value instead.
        pl.when(is_column).then(pl.col("failure_case").cast(pl.String)).alias("value"),
    )
    named = sorted(set(ROW_CHECK_COLUMNS.values()) & set(typed.columns))
    if not named:
        return failures
    as_text = [
        pl.col(c).dt.to_string("%Y-%m-%d %H:%M:%S") if typed.schema[c] == pl.Datetime else pl.col(c).cast(pl.String)
        for c in named
    ]
    values = typed.select(pl.col(ROW), *as_text).unpivot(
        index=ROW, variable_name="column", value_name="named_value"
    )
    return (
        failures.join(values, on=[ROW, "column"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("value", "named_value").alias("value"))
        .drop("named_value")
    )
