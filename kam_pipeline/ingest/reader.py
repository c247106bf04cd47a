"""Find and read the delivered files of one source, as text.

The raw layer keeps what was delivered; typing and row rules happen afterwards in
DuckDB (`rules_sql.py`). A plain UTF-8 CSV file is read by DuckDB's parallel CSV
reader straight into the raw table (`raw_load.py`); this module supplies its header
and tells when a file needs the polars readers here instead: other encodings
(GB18030), Parquet, Excel workbooks, rows wider than the header, and blank lines
between rows. Every other file in the folder is listed as ignored, with the reason
(`ignored_files`).

Leniency, chosen because people type these files by hand or export them from
spreadsheets, and none of it can change what a value means:
  - header cells are trimmed, lower-cased and inner blanks become `_`
    (`" Order ID"` is `order_id`); a name that then occurs twice fails the file;
  - a CSV row with more fields than the header (an unquoted comma) is quarantined
    with its surplus fields instead of failing the whole file.
Row numbers count data rows: row 1 is the first row after the header, and a blank
line counts although it is no record.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fastexcel
import polars as pl

from kam_pipeline.ingest.contract import SOURCES, Source

ROW = "_row_number"
# The row index while a file is read: a name no delivered header can produce, so a delivered
# column called `_row_number` stays an (unknown) column of its own.
INDEX = "__kam_row_index__"
# Holds the fields of a CSV row beyond the header's width (see `_read_ragged_csv`).
SURPLUS = "_surplus_fields"


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


# The file types read, by extension (lower case, without the dot).
FILE_TYPES = ("csv", "parquet", "xlsx", "xls")
EXCEL_TYPES = ("xlsx", "xls")
# Files of the data folder that are no data: the header and value mapping file.
NOT_DATA = ("sources.yaml",)
# A blank line (LF or CRLF ends): one regular expression finds the first faster than two
# substring searches (0.4 against 1.1 CPU-s over the 675 MB orders file of 10M lines).
_BLANK_LINE = re.compile(rb"\n\r?\n")


def _source_pattern(source: str, types: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(source)}(_.+)?\.({types})$", re.IGNORECASE)


def discover(data_dir: Path, source: str) -> list[DeliveredFile]:
    """Return the files of `source` in `data_dir` (`<source>.<type>`, `<source>_*.<type>` for
    every type of FILE_TYPES), sorted by name."""
    root = data_dir.resolve()
    pattern = _source_pattern(source, "|".join(FILE_TYPES))
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


@dataclass(frozen=True)
class IgnoredFile:
    """A file of the data folder that no source reads; `source` is the one its name starts with, if any."""

    path: Path
    source: str | None
    reason: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


def ignored_files(data_dir: Path, mapping_file: Path | None = None) -> list[IgnoredFile]:
    """Return the files of `data_dir` that `discover` leaves out, each with why, sorted by name.

    Hidden files, folders and the mapping file (`sources.yaml`, or `mapping_file` when the
    run names another one) are no data and not listed. A file whose name starts like a
    source's (`orders.xlsm`, `orders_2024.json`) is attributed to it.
    """
    root = data_dir.resolve()
    mapping = mapping_file.resolve() if mapping_file is not None else None
    accepted = ", ".join(FILE_TYPES)
    ignored = []
    for path in sorted(root.iterdir()):
        # The mapping file is found by its exact name; `Sources.yaml` is listed, so it is not lost unseen.
        if path.name.startswith(".") or path.name in NOT_DATA or not path.is_file():
            continue
        if path.resolve() == mapping:
            continue
        owner = next((s for s in SOURCES if _source_pattern(s, "[^.]+").match(path.name)), None)
        extension = path.suffix.lower().lstrip(".")
        if path.name.startswith("~$"):
            reason = "a lock file Excel keeps while the workbook is open"
        elif extension not in FILE_TYPES:
            shown = f"'.{extension}'" if extension else "none"
            reason = f"unsupported file type {shown} (accepted: {accepted})"
        elif owner is None:
            stem = path.name[: -len(path.suffix)].split("_")[0]
            near = next((s for s in sorted(SOURCES, key=len, reverse=True) if stem.lower().startswith(s)), None)
            if near is not None:
                # `orders_.csv`, `orders-2024.csv`, `orders.2024.csv`: a source's name, wrongly joined;
                # listed as that source's, so a required source whose only file is one names it.
                owner = near
                reason = (
                    f"not a file name of source '{near}' (name it {near}.{extension} or {near}_<anything>.{extension})"
                )
            else:
                reason = f"no source named '{stem}' (sources: {', '.join(sorted(SOURCES))})"
        elif not path.resolve().is_relative_to(root):
            reason = "a link to a file outside the data folder"
        else:
            continue  # read by `discover`
        stat = path.stat()
        ignored.append(IgnoredFile(path, owner, reason, stat.st_size, stat.st_mtime_ns))
    return ignored


def scan_file(path: Path) -> tuple[str, bool]:
    """Return the file's hex SHA-256 (read in 1 MiB blocks) and whether a blank line is followed by more content.

    DuckDB's CSV reader skips blank lines, which would shift the row numbers of
    every later row; such a file is read by polars instead (see `raw_load.py`).
    """
    digest = hashlib.sha256()
    blank_seen = inner_blank = False
    tail = b""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            if inner_blank:
                continue
            text = tail + block
            if blank_seen and text.strip(b"\r\n"):
                inner_blank = True
                continue
            hit = _BLANK_LINE.search(text)
            if hit:
                blank_seen = True
                inner_blank = bool(text[hit.start() :].strip(b"\r\n"))
            tail = text[-2:]
    return digest.hexdigest(), inner_blank


def csv_header(path: Path) -> list[str] | None:
    """Return the header cells of a UTF-8 CSV file as polars would name them; None when not UTF-8 CSV."""
    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            first = next(csv.reader(fh), None)
    except (UnicodeDecodeError, csv.Error):
        return None
    return polars_names(first) if first else None


def polars_names(header: list[str]) -> list[str]:
    """Name repeated header cells as polars does (`<name>_duplicated_<n>`), so every reader agrees."""
    names: list[str] = []
    for name in header:
        repeats = sum(h == name or h.startswith(f"{name}_duplicated_") for h in names)
        names.append(name if not repeats else f"{name}_duplicated_{repeats - 1}")
    return names


def read_as_text(path: Path, source: str | None = None) -> pl.DataFrame:
    """Return the file's rows with every column as text; raise UnreadableFile with the reason.

    `source` names the sheet read from a workbook when it has one of that name (see `read_excel`).
    """
    if path.suffix.lower().lstrip(".") in EXCEL_TYPES:
        return read_excel(path, source)
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


# How the calamine reader writes a date cell as text at midnight: the date is the whole value.
_MIDNIGHT = r"^\d{4}-\d{2}-\d{2} 00:00:00(\.0+)?$"


def read_excel(path: Path, source: str | None = None) -> pl.DataFrame:
    """Return the rows of a workbook's sheet (.xlsx or .xls) as text, header from its first row.

    The sheet is the one named like `source` (case and blanks aside), else the first.
    Cells become text without their display format: a number as its plain digits
    (`100000`, `2.5`, never `1.0e+05`), a date cell as ISO text
    (`2025-01-31`, or `2025-01-31 14:05:00` when it has a time of day), so the contract's
    typing rules accept them; text cells stay as typed, so a bad cell is quarantined
    with its row number like a CSV cell. Raise UnreadableFile when it is no workbook.
    """
    try:
        workbook = fastexcel.read_excel(path)
        names = workbook.sheet_names
        if not names:
            raise UnreadableFile("the workbook has no sheet")
        sheet = next((n for n in names if source and n.strip().lower() == source), names[0])
        # Without a header row every cell, the header too, is read as data: all as text, since
        # a type guessed from some rows turns a different cell further down into null.
        cells = workbook.load_sheet(sheet, header_row=None, dtypes="string").to_polars()
        if cells.height == 0:
            return pl.DataFrame()
        midnight = [i for i, c in enumerate(cells.columns) if cells[c].str.contains(_MIDNIGHT).any()]
        # A text cell typed as `2025-01-31 00:00:00` is no date cell: the date reading of a
        # column is null for text, so only real date cells lose their midnight.
        dates = (
            workbook.load_sheet(sheet, header_row=None, use_columns=midnight, dtypes="datetime").to_polars()
            if midnight
            else pl.DataFrame()
        )
    except UnreadableFile:
        raise
    except Exception as exc:  # calamine raises its own errors for a broken or encrypted file
        raise UnreadableFile(f"not a readable Excel file: {_first_line(exc)}") from exc
    cells = cells.with_columns(
        pl.when(dates[d].is_not_null() & cells[c].str.contains(_MIDNIGHT))
        .then(cells[c].str.slice(0, 10))
        .otherwise(cells[c])
        .alias(c)
        for c, d in zip([cells.columns[i] for i in midnight], dates.columns, strict=True)
    )
    return _first_row_as_header(cells)


def _first_row_as_header(cells: pl.DataFrame) -> pl.DataFrame:
    """Return the rows after the first, named by the first row's cells as polars names a CSV header."""
    delivered = [cell or "" for cell in cells.row(0)]
    rows = cells.slice(1)
    # A column with neither a header nor any value is only the sheet's formatting reaching further.
    keep = [
        i
        for i, (c, name) in enumerate(zip(rows.columns, delivered, strict=True))
        if name.strip() or rows[c].is_not_null().any()
    ]
    kept = [rows.columns[i] for i in keep]
    header = polars_names([delivered[i] for i in keep])
    return rows.select(kept).rename(dict(zip(kept, header, strict=True)))


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
    header = polars_names(rows[0])
    width = len(header)
    columns: dict[str, list[str | None]] = {name: [] for name in [*header, SURPLUS]}
    for row in rows[1:]:
        cells = [cell if cell != "" else None for cell in row]
        cells += [None] * (width - len(cells))
        for name, cell in zip(header, cells, strict=False):
            columns[name].append(cell)
        columns[SURPLUS].append(",".join(c or "" for c in cells[width:]) if len(cells) > width else None)
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


def check_columns(frame: pl.DataFrame, spec: Source, mapped: dict[str, str] | None = None) -> None:
    """Raise UnreadableFile when a column the contract requires is absent (header already normalised).

    `mapped` (contract column -> the customer's header in sources.yaml) is named in the
    reason too, so a user sees which header was looked for.
    """
    present = set(frame.columns)
    mapped = mapped or {}
    missing = [c.name for c in spec.columns if c.name not in present and not (c.nullable or c.default)]
    if missing:
        named = [f"{m} (or {mapped[m]!r} as sources.yaml maps)" if m in mapped else m for m in missing]
        raise UnreadableFile(f"missing required column(s): {', '.join(named)}")


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
