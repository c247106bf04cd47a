"""Make one delivered file's rows readable as raw.<source> rows: every cell as delivered text, with its row number.

DuckDB's CSV reader takes plain UTF-8 CSV files (`raw_from_duckdb`, raising FastPathFailed
when the file needs more): the file is archived and read from its copy (`archive.py`). The
polars readers of `reader.py` take the rest, streamed in batches or read whole
(`raw_from_polars`), into raw.<source>_rows. Both map the delivered header to contract names
(with the source's sources.yaml mapping) and keep unknown columns in `_extra`; both return
the query of the file's text rows, which the row rules type into staging.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import duckdb
import polars as pl

from kam_pipeline.ingest.archive import PendingCopy, archive_copy, archive_dir, delivered_rows
from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.mapping import SourceMapping
from kam_pipeline.ingest.reader import (
    INDEX,
    ROW,
    SURPLUS,
    DeliveredFile,
    StreamFailed,
    UnreadableFile,
    check_columns,
    csv_header,
    normalise_header,
    read_as_text,
    stream_csv,
)
from kam_pipeline.ingest.rules_sql import lit

# Rows read and inserted at a time by the polars readers: bounds memory for any file size.
BATCH_ROWS = 250_000


class FastPathFailed(Exception):
    """DuckDB's CSV reader could not read the file (encoding, ragged rows): read it with polars."""


def _names(header: list[str], spec: Source, streamed: bool, mapping: SourceMapping) -> dict[str, str]:
    """Map delivered header cells to contract or normalised names; raise UnreadableFile (StreamFailed when `streamed`).

    A header the source's mapping names (sources.yaml) becomes its contract column; any
    other header is normalised as before, so a file may mix mapped and contract headers.
    """
    try:
        names = normalise_header(pl.DataFrame(schema=dict.fromkeys(header, pl.String))).columns
        names = [mapping.contract_name(cell) or name for cell, name in zip(header, names, strict=True)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            delivered = "; ".join(
                f"{n} as {' and '.join(repr(c.strip()) for c, m in zip(header, names, strict=True) if m == n)}"
                for n in twice
            )
            raise UnreadableFile(f"column(s) delivered twice after the sources.yaml mapping: {delivered}")
        check_columns(pl.DataFrame(schema=dict.fromkeys(names, pl.String)), spec, mapping.headers)
    except UnreadableFile as exc:
        # A garbled header (binary, wrong encoding, broken quoting) is explained best by the
        # whole-file reader, which names the real reason.
        if streamed:
            raise StreamFailed(str(exc)) from exc
        raise
    return dict(zip(header, names, strict=True))


def column_names(header: list[str], spec: Source, mapping: SourceMapping) -> dict[str, str]:
    """Map a dataset's column names to contract or normalised names as a delivered file's header; raise
    UnreadableFile (a name twice, a required column missing)."""
    return _names(header, spec, streamed=False, mapping=mapping)


def remember_headers(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    mapping: SourceMapping,
    renames: dict[str, str],
) -> None:
    """Record the mapping a file is loaded with, and the headers it mapped (for quarantine reasons)."""
    if not mapping.digest:
        return
    headers = {
        name: cell.lstrip("\ufeff").strip()
        for cell, name in renames.items()
        if mapping.contract_name(cell) and mapping.contract_name(cell) != _unmapped_name(cell)
    }
    conn.execute(
        "insert or replace into raw.file_mapping values (?, ?, ?, map(?::varchar[], ?::varchar[]))",
        [spec.name, delivered.name, mapping.digest, list(headers), list(headers.values())],
    )


def _unmapped_name(cell: str) -> str:
    """The name a header cell gets without a mapping (trimmed, lower-case, inner blanks `_`)."""
    return normalise_header(pl.DataFrame(schema={cell: pl.String})).columns[0]


def raw_from_duckdb(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    mapping: SourceMapping,
    checksum: str,
    pending: PendingCopy | None = None,
) -> str:
    """Make the file's rows readable by DuckDB's CSV reader; return the query of its text rows.

    With a database file the delivered file is copied into the archive (`pending` is the copy
    already written while it was scanned, when there is one) and recorded in
    raw.archived_files, and the query reads the copy: its text is never written to a table.
    An in-memory database keeps the rows in raw.<source>_rows instead.
    """
    header = csv_header(delivered.path)
    if header is None:
        raise FastPathFailed("not a UTF-8 CSV file")
    try:
        renames = _names(header, spec, streamed=True, mapping=mapping)
    except StreamFailed as exc:
        raise FastPathFailed(str(exc)) from exc
    remember_headers(conn, spec, delivered, mapping, renames)
    columns = list(renames.values())
    folder = archive_dir(conn)
    if folder is None:
        try:
            conn.execute(
                f"insert into raw.{spec.name}_rows by name "
                f"{delivered_rows(spec, delivered.path, delivered.name, columns, now)}"
            )
        except duckdb.Error as exc:
            raise FastPathFailed(str(exc)) from exc
        return _text_rows(spec, delivered)
    copy = pending.place(checksum) if pending is not None else archive_copy(folder, spec.name, delivered.path, checksum)
    conn.execute(
        "insert or replace into raw.archived_files values (?, ?, ?, ?, ?)",
        [spec.name, delivered.name, str(copy), columns, now],
    )
    return typed_in_parallel(delivered_rows(spec, copy, delivered.name, columns, now))


def typed_in_parallel(rows: str) -> str:
    """The query `rows` with its rows gathered first, so that what reads it runs on all of DuckDB's threads.

    DuckDB numbers a CSV file's rows (`with ordinality`) in one thread, and the typing, the row
    rules and the insert of staging would run in that same thread. A materialized CTE is kept in
    the buffer pool (spilled to disk past the memory cap) and read in parallel: the 9.9M order
    lines of the 10M data set typed in 7.3 s wall instead of 13.1 (14.1 CPU-s instead of 13.0),
    the same rows and row numbers, the same peak RSS.
    """
    return f"with delivered as materialized ({rows}) select * from delivered"


def _text_rows(spec: Source, delivered: DeliveredFile) -> str:
    """The query of the file's rows in raw.<source>_rows."""
    return f"select * from raw.{spec.name}_rows where _source_file = {lit(delivered.name)}"


def raw_from_polars(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    mapping: SourceMapping,
    stream: bool,
) -> str | None:
    """Insert the file's rows into raw.<source>_rows with the polars readers; return the query of them (None: no columns)."""
    streamed = stream_csv(delivered.path, BATCH_ROWS) if stream else None
    if streamed is None:
        whole = read_as_text(delivered.path, delivered.source)
        if whole.width == 0:
            return None
        whole = whole.with_row_index(INDEX, offset=1)
        header = [c for c in whole.columns if c != INDEX]
        batches = whole.iter_slices(BATCH_ROWS)
    else:
        header, batches = streamed
    renames = _names([c for c in header if c != SURPLUS], spec, streamed=streamed is not None, mapping=mapping)
    remember_headers(conn, spec, delivered, mapping, renames)
    for batch in batches:
        _insert_raw_batch(conn, spec, batch.rename(renames), delivered, now)
    return _text_rows(spec, delivered)


def _insert_raw_batch(
    conn: duckdb.DuckDBPyConnection, spec: Source, frame: pl.DataFrame, delivered: DeliveredFile, now: dt.datetime
) -> int:
    """Insert one text batch into raw.<source> (surplus fields become row violations); return its rows."""
    # Surplus fields are kept in `_extra` like unknown columns.
    data_columns = [c for c in frame.columns if c != INDEX]
    # A line with no value at all (often trailing blank lines) is no record; row numbers still count it.
    blank = frame.select(pl.all_horizontal(pl.col(data_columns).is_null())).to_series()
    extras = [c for c in data_columns if c not in spec.column_names]
    # Unknown columns go to `_extra` before anything else, so a delivered column called
    # `_row_number` or `_extra` cannot collide with the lineage columns.
    frame = frame.select(
        pl.col(INDEX).cast(pl.Int64).alias(ROW),
        *[c for c in data_columns if c in spec.column_names],
        (pl.struct(extras).struct.json_encode() if extras else pl.lit(None, dtype=pl.String)).alias("_extra"),
        *([pl.col(SURPLUS)] if SURPLUS in frame.columns else []),
    ).filter(~blank)
    if frame.height == 0:
        return 0
    raw = frame.select(
        *[(pl.col(c) if c in frame.columns else pl.lit(None, dtype=pl.String)).alias(c) for c in spec.column_names],
        pl.col("_extra"),
        pl.lit(delivered.name).alias("_source_file"),
        pl.col(ROW),
        pl.lit(now).alias("_ingested_at"),
    )
    surplus = (
        frame.filter(pl.col(SURPLUS).is_not_null()).select(pl.col(ROW), pl.col(SURPLUS).alias("value"))
        if SURPLUS in frame.columns
        else pl.DataFrame(schema={ROW: pl.Int64, "value": pl.String})
    )
    conn.register("raw_frame", raw)
    conn.register("surplus_frame", surplus)
    try:
        conn.execute(f"insert into raw.{spec.name}_rows by name select * from raw_frame")
        conn.execute(
            'insert into quarantine.rule_violations (source, _source_file, _row_number, "column", rule, value, stage) '
            "select $source, $file, _row_number, '*', 'row has more fields than the header', value, 'row' "
            "from surplus_frame",
            {"source": spec.name, "file": delivered.name},
        )
    finally:
        for name in ("raw_frame", "surplus_frame"):
            # After a failed insert the transaction is aborted and unregistering fails too;
            # that must not hide the insert's own error (the rollback drops the views).
            with contextlib.suppress(duckdb.Error):
                conn.unregister(name)
    return frame.height
