"""The archive of delivered files: a byte copy of every plain CSV file loaded, kept next to the working database.

A plain UTF-8 CSV file (the common case, and the large one) is copied once into
`<working db>.delivered/<source>/` (`kam.work.duckdb` -> `kam.work.delivered/`), then read
once by DuckDB's CSV reader straight into staging (`row_rules.py`). Its delivered text is
not written again: raw.<source> is a view that reads the archived copy (`delivered_rows`),
with the same row numbers, whenever the text is asked for (a quarantine reason, a query).

The copy is a copy of the bytes, not a hard link: a link shares the delivered file's
content, so a user rewriting that file in place (`cp new.csv orders.csv`, an appending
export) would change the archived rows under staging's feet; a copy is immune to that and to
the file's removal. (This file system has no copy-on-write clone, which would be both.) A
new file is copied by the kernel first (`PendingCopy`), then the copy is read for its checksum
(`reader.scan_file`), and flushed to disk while DuckDB types its rows: the load commits only
once the copy is on disk.

A Parquet dataset or catalog table that the Spark engine stages (`engines/inputs.py`) is archived as the
text Spark gave its cells: a folder of Parquet files, `<checksum>_<source>.parquet/`, with raw.<source>'s
columns but the file name and load time (`archived_rows` reads either kind).

raw.archived_files  per archived file: its copy's path, the column name of each delivered
                    header cell (sources.yaml mapping applied) and when it was loaded
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from pathlib import Path

import duckdb

from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.rules_sql import ident, lit
from kam_pipeline.warehouse.database import scalar
from kam_pipeline.warehouse.files import fsync_dir


def archive_dir(conn: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder of the connection's archive (None for an in-memory database, which keeps raw rows as text)."""
    path = scalar(conn, "select path from duckdb_databases() where database_name = current_database()")
    if not path or path == ":memory:":
        return None
    return Path(path).resolve().with_suffix(".delivered")


def archive_copy(folder: Path, source: str, path: Path, checksum: str) -> Path:
    """Copy the delivered file into the archive under a name of its content; return the copy's path.

    The copy is written under a temporary name, flushed to disk and renamed: a killed run
    leaves no partial copy under an archived name (an unreferenced copy is removed by `sweep`).
    """
    target = folder / source / f"{checksum[:16]}_{path.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(path, temporary)
    with temporary.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(temporary, target)
    return target


class PendingCopy:
    """A delivered file's copy into the archive, made by the kernel before the copy is read for its checksum.

    The copy is made at once (`shutil.copyfile`: the kernel's copy, no block passes through
    Python) under a hidden temporary name; the load reads `path` for the checksum, so the
    archive holds exactly the bytes hashed and loaded, whatever happens to the delivered file
    meanwhile. `place` names it after its content and starts flushing it to disk in a thread;
    `settle` waits for the flush (the load commits after it). One a killed run leaves, or one
    not placed, is removed by `discard` or `sweep`.
    """

    def __init__(self, folder: Path, source: str, path: Path) -> None:
        self._folder, self._source, self._name = folder, source, path.name
        (folder / source).mkdir(parents=True, exist_ok=True)
        self._temporary = folder / source / f".{path.name}.{os.getpid()}.tmp"
        self._flush: threading.Thread | None = None
        self._error: OSError | None = None
        try:
            shutil.copyfile(path, self._temporary)
        except BaseException:
            self._temporary.unlink(missing_ok=True)
            raise

    @property
    def path(self) -> Path:
        """The copy, under its temporary name until placed."""
        return self._temporary

    def place(self, checksum: str) -> Path:
        """Rename the written copy to its archived name and start flushing it to disk; return that path.

        A crash before the flush ends can leave a short copy under that name, but no committed
        load refers to it yet (`settle` comes first), and the next load replaces or sweeps it.
        """
        target = self._folder / self._source / f"{checksum[:16]}_{self._name}"
        os.replace(self._temporary, target)
        self._flush = threading.Thread(target=self._fsync, args=(target,), daemon=True)
        self._flush.start()
        return target

    def _fsync(self, target: Path) -> None:
        try:
            with target.open("rb") as fh:
                os.fsync(fh.fileno())
            fsync_dir(target.parent)
        except OSError as exc:
            self._error = exc

    def settle(self) -> None:
        """Wait until a placed copy is on disk (raise the flush's OSError); nothing when it was not placed."""
        if self._flush is not None:
            self._flush.join()
            self._flush = None
            if self._error is not None:
                raise self._error

    def discard(self) -> None:
        """Remove the copy when it was not placed (the file needed no load, or another reader)."""
        self._temporary.unlink(missing_ok=True)


def sweep(conn: duckdb.DuckDBPyConnection, folder: Path | None, source: str) -> None:
    """Remove the source's archived copies that no loaded file refers to (replaced, removed, or left by a killed run)."""
    if folder is None or not (folder / source).is_dir():
        return
    kept = {row[0] for row in conn.execute("select path from raw.archived_files where source = ?", [source]).fetchall()}
    for path in (folder / source).iterdir():
        if str(path) in kept:
            continue
        if path.is_file():
            path.unlink(missing_ok=True)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)  # the text of a dataset staged on Spark


def csv_relation(path: Path | str, width: int) -> str:
    """DuckDB's reader of a plain CSV file with `width` columns, every cell as text (c1 ... c<width>)."""
    columns = "{" + ", ".join(f"{lit(f'c{i}')}: 'VARCHAR'" for i in range(1, width + 1)) + "}"
    # Quoted fields may span lines; strict mode makes a row wider than the header an error
    # (the polars reader then quarantines it), null padding fills a short row's last cells.
    return (
        f"read_csv({lit(str(path))}, header = true, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', columns = {columns}, strict_mode = true, null_padding = true)"
    )


def delivered_rows(
    spec: Source, path: Path | str, file_name: str, columns: list[str], ingested_at: dt.datetime | str
) -> str:
    """A query of the CSV file's rows as raw.<source> holds them: contract columns as text, unknown columns
    in `_extra` (JSON), `_source_file`, `_row_number` (data rows from 1 in file order) and `_ingested_at`.

    `columns` names each delivered header cell, in file order (contract or normalised names).
    """
    positions = {name: f"c{i}" for i, name in enumerate(columns, start=1)}
    delivered = ", ".join(f"{positions[c] if c in positions else 'null'} as {ident(c)}" for c in spec.column_names)
    extras = [n for n in positions if n not in spec.column_names]
    extra = f"json_object({', '.join(f'{lit(n)}, {positions[n]}' for n in extras)})" if extras else "null"
    not_blank = " or ".join(f"{p} is not null" for p in positions.values())
    stamp = ingested_at if isinstance(ingested_at, str) else ingested_at.isoformat(sep=" ")
    # The rows are numbered in file order as they stream by (a window over the whole file gave the
    # same numbers but gathered every row in one thread first). DuckDB plans `with ordinality` as a
    # streaming row_number() in one thread; the fast path gathers its rows before typing them
    # (`raw_load.typed_in_parallel`). A line with no value at all is no record, but keeps its number.
    return f"""
        select {", ".join(ident(c) for c in spec.column_names)}, _extra::json as _extra,
               {lit(file_name)} as _source_file, _row_number, timestamp {lit(stamp)} as _ingested_at
        from (
            select {delivered}, {extra} as _extra, {not_blank} as _has_value, ordinality as _row_number
            from {csv_relation(path, len(columns))} with ordinality
        )
        where _has_value
    """


def archived_rows(
    spec: Source, path: Path | str, file_name: str, columns: list[str], ingested_at: dt.datetime | str
) -> str:
    """A query of an archived file's rows as raw.<source> holds them: a CSV copy (`delivered_rows`), or the
    folder of Parquet text a dataset staged on Spark left (its rows already hold raw.<source>'s columns)."""
    if not Path(path).is_dir():
        return delivered_rows(spec, path, file_name, columns, ingested_at)
    stamp = ingested_at if isinstance(ingested_at, str) else ingested_at.isoformat(sep=" ")
    return f"""
        select {", ".join(ident(c) for c in spec.column_names)}, _extra::json as _extra,
               {lit(file_name)} as _source_file, _row_number, timestamp {lit(stamp)} as _ingested_at
        from read_parquet({lit(str(Path(path) / "*.parquet"))})
    """
