"""Load one source's delivered files into raw, staging and quarantine (incremental by file).

Per source, persisted across runs:
  raw.<source>                 rows as delivered (text), unknown columns in `_extra` (JSON): a view
                               over the archived copies of CSV files and raw.<source>_rows (the
                               text of files only polars reads)
  staging.<source>_typed       every delivered row, typed (a cell that did not parse is null)
  quarantine.rule_violations   one row per broken rule (row-level and cross-row)
  raw.file_mapping             per file loaded under a sources.yaml mapping: the mapping's digest
                               and the delivered header of each mapped contract column
Rebuilt when the source's files or a source it references changed:
  staging.<source>_excluded    rows that broke a rule, and repeated copies of identical rows
  quarantine.<source>          rejected rows with their delivered values and every reason
and the view staging.<source> = typed rows minus excluded ones: valid rows, with no
conflicting duplicate key and known references. No table of the size of the history
is rewritten when a daily file arrives.

This module decides what a run does per file and per source; the steps are each a module:
`layout` (tables, and the upgrade of an older layout), `raw_load` and `archive` (the readers),
`row_rules` (typing and the row rules), `cross_rows` (duplicate keys, references, quarantine)
and `bookkeeping` (raw.ingest_log, ignored files, what a rebuild depends on). A dataset that another
engine stages as a whole (a Parquet dataset or catalog table on Spark) is loaded by `ingest_dataset`, as
one file of the ingest log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import duckdb

from kam_pipeline.ingest.archive import PendingCopy, archive_dir, sweep
from kam_pipeline.ingest.bookkeeping import (
    NO_SOURCE,
    FileOutcome,
    SourceReport,
    count_files,
    ensure_layers,
    input_signature,
    read_catalog,
    record_ignored,
)
from kam_pipeline.ingest.contract import SOURCES, Source
from kam_pipeline.ingest.cross_rows import apply_cross_row_rules
from kam_pipeline.ingest.layout import ensure_source_tables, forget_file, refresh_raw_view
from kam_pipeline.ingest.mapping import SourceMapping
from kam_pipeline.ingest.raw_load import (
    FastPathFailed,
    column_names,
    raw_from_duckdb,
    raw_from_polars,
    remember_headers,
)
from kam_pipeline.ingest.reader import DeliveredFile, StreamFailed, UnreadableFile, discover, scan_file
from kam_pipeline.ingest.row_rules import type_and_validate
from kam_pipeline.warehouse.database import transaction

# Callers read the outcome types and the ignored-file listing from here.
__all__ = [
    "NO_SOURCE",
    "FileOutcome",
    "SourceReport",
    "ensure_source",
    "ingest_dataset",
    "ingest_source",
    "record_ignored",
]


class Stager(Protocol):
    """Types and checks a plain CSV file's rows with another engine (the Spark engine's SparkStager)."""

    def takes(self, source: str) -> bool: ...

    def stage(
        self, spec: Source, path: Path, file_name: str, columns: list[str], values: dict[str, dict[str, str]]
    ) -> str: ...

    def clean(self, source: str) -> None: ...


def ensure_source(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    """Create the layers and the (empty) tables of `source` as its first ingest does: raw.<source>,
    staging.<source>_typed, staging.<source>_excluded and the staging.<source> view (also those
    of the sources it references)."""
    catalog = read_catalog(conn)
    ensure_layers(conn, catalog)
    ensure_source_tables(conn, SOURCES[source], catalog)


def _load_file(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    reader: str,
    mapping: SourceMapping,
    checksum: str,
    stager: Stager | None = None,
    pending: PendingCopy | None = None,
) -> FileOutcome:
    """Make the file's rows readable as raw rows, then type and validate them in DuckDB; return its outcome.

    `reader` is `duckdb` (plain UTF-8 CSV, parallel, archived and read once straight into
    staging; raises FastPathFailed when the file needs more), `stream` (polars in batches;
    raises StreamFailed likewise) or `whole`. With a `stager` that takes the source, an
    archived CSV file is typed and checked by it instead (raising FastPathFailed likewise).
    """
    if reader == "duckdb":
        rows_sql = raw_from_duckdb(conn, spec, delivered, now, mapping, checksum, pending)
        typed = _staged_elsewhere(conn, spec, delivered, mapping, stager)
        try:
            rows, rejected = type_and_validate(conn, spec, delivered.name, mapping, rows_sql, typed)
        except duckdb.Error as exc:
            # Read in this same pass: a row wider than the header, text that is not UTF-8.
            raise FastPathFailed(str(exc)) from exc
        finally:
            if typed is not None:
                stager.clean(spec.name)
    else:
        rows_sql = raw_from_polars(conn, spec, delivered, now, mapping, stream=reader == "stream")
        if rows_sql is None:
            return FileOutcome(delivered.name, "loaded")
        rows, rejected = type_and_validate(conn, spec, delivered.name, mapping, rows_sql)
    return FileOutcome(delivered.name, "loaded", rows, rows - rejected, rejected)


def _staged_elsewhere(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    mapping: SourceMapping,
    stager: Stager | None,
) -> str | None:
    """The query of the file's rows as `stager` typed them, or None when DuckDB types them (no stager,
    a source it does not take, or an in-memory database that archives no copy)."""
    if stager is None or not stager.takes(spec.name):
        return None
    archived = conn.execute(
        "select path, columns from raw.archived_files where source = ? and file_name = ?", [spec.name, delivered.name]
    ).fetchone()
    if archived is None:
        return None
    return stager.stage(spec, Path(archived[0]), delivered.name, list(archived[1]), mapping.values)


# Each reader hands a file it cannot read to the next one; the last names the reason.
_NEXT_READER = {"duckdb": "stream", "stream": "whole"}


def _load_with_fallback(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    reader: str,
    mapping: SourceMapping,
    checksum: str,
    stager: Stager | None = None,
    pending: PendingCopy | None = None,
) -> FileOutcome:
    """Load the file inside the open transaction, restarting it with the next reader when one gives up.

    `pending` is the archive's copy made while the file was scanned (for DuckDB's reader); the
    caller settles it before committing.
    """
    while True:
        forget_file(conn, spec.name, delivered.name)
        try:
            outcome = _load_file(conn, spec, delivered, now, reader, mapping, checksum, stager, pending)
            refresh_raw_view(conn, spec)
            return outcome
        except (FastPathFailed, StreamFailed):
            # Something only a later reader handles (another encoding, a ragged row): start
            # this file's transaction again.
            conn.execute("rollback")
            conn.execute("begin transaction")
            reader = _NEXT_READER[reader]
            pending = None  # a placed copy is no longer referred to; `sweep` removes it
        except UnreadableFile as exc:
            refresh_raw_view(conn, spec)
            return FileOutcome(delivered.name, "failed", reason=str(exc))


def _first_reader(delivered: DeliveredFile, inner_blank: bool) -> str:
    """The reader to try first: DuckDB's for CSV, polars' stream for CSV with blank lines, else the whole file."""
    if delivered.path.suffix.lower() != ".csv":
        return "whole"  # Parquet and Excel: only the polars readers know them
    return "stream" if inner_blank else "duckdb"


def _pending_copy(conn: duckdb.DuckDBPyConnection, source: str, delivered: DeliveredFile) -> PendingCopy | None:
    """The archive's copy of a plain CSV file, made before it is scanned (None: the file is no CSV,
    or the database is in memory and keeps no archive)."""
    folder = archive_dir(conn)
    if folder is None or _first_reader(delivered, inner_blank=False) != "duckdb":
        return None
    return PendingCopy(folder, source, delivered.path)


def _forget_removed(conn: duckdb.DuckDBPyConnection, spec: Source, names: list[str], report: SourceReport) -> None:
    """Forget the files of `names`, no longer delivered."""
    for name in names:
        with transaction(conn):
            if forget_file(conn, spec.name, name):
                refresh_raw_view(conn, spec)
            conn.execute("delete from raw.ingest_log where source = ? and file_name = ?", [spec.name, name])
        report.files.append(FileOutcome(name, "removed"))


def _record_load(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    name: str,
    size: int,
    mtime_ns: int,
    checksum: str | None,
    outcome: FileOutcome,
    mapping: SourceMapping,
    now: dt.datetime,
) -> None:
    """Log a file's load in raw.ingest_log, and the mapping it was read under in raw.file_mapping."""
    if mapping.digest:
        # Also a file that failed is tried again when the mapping changes (it may be what fixes it).
        conn.execute(
            "insert or ignore into raw.file_mapping values (?, ?, ?, map([]::varchar[], []::varchar[]))",
            [source, name, mapping.digest],
        )
    conn.execute(
        "insert or replace into raw.ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source,
            name,
            size,
            mtime_ns,
            checksum,
            outcome.rows_read,
            outcome.rows_valid,
            outcome.rows_quarantined,
            outcome.status,
            outcome.reason,
            now,
        ],
    )


def ingest_source(
    conn: duckdb.DuckDBPyConnection,
    data_dir: Path,
    source: str,
    now: dt.datetime | None = None,
    mapping: SourceMapping | None = None,
    stager: Stager | None = None,
    before_load: Callable[[int], None] | None = None,
) -> SourceReport:
    """Bring `source` up to date with the files in `data_dir`; return what happened per file.

    `mapping` (the source's part of sources.yaml, already validated) names the customer's
    headers and values; a file loaded under another mapping is loaded again. `stager` (the
    Spark engine's) types and checks the plain CSV files of the sources it takes. `before_load`
    is called with the file's size in bytes before each file is loaded (not for a file that is unchanged).
    """
    spec = SOURCES[source]
    mapping = mapping or SourceMapping(source)
    now = now or dt.datetime.now()
    catalog = read_catalog(conn)
    ensure_layers(conn, catalog)
    ensure_source_tables(conn, spec, catalog)
    report = SourceReport(source)
    # Ignored files attributed to the source are `record_ignored`'s; this lists the files it reads.
    known = {
        row[0]: row[1:]
        for row in conn.execute(
            "select file_name, size_bytes, modified_ns, sha256, status, reason from raw.ingest_log "
            "where source = ? and status <> 'ignored'",
            [source],
        ).fetchall()
    }
    loaded_with = dict(
        conn.execute("select file_name, mapping from raw.file_mapping where source = ?", [source]).fetchall()
    )
    found = discover(data_dir, source)
    _forget_removed(conn, spec, sorted(set(known) - {f.name for f in found}), report)
    for delivered in found:
        previous = known.get(delivered.name)
        # Size and modification time spare hashing an untouched file; the checksum decides otherwise.
        same_stat = previous and (previous[0], previous[1]) == (delivered.size, delivered.mtime_ns)
        # A file loaded under another mapping (or none) is read again: its columns or values change.
        remapped = loaded_with.get(delivered.name, "") != mapping.digest
        # A new plain CSV file is copied into the archive first, and the copy is read for its checksum.
        pending = _pending_copy(conn, source, delivered) if previous is None else None
        try:
            scanned = None if same_stat and not remapped else scan_file(pending.path if pending else delivered.path)
        except BaseException:
            if pending is not None:
                pending.discard()
            raise
        checksum, inner_blank = scanned or (None, False)
        if pending is not None and inner_blank:
            pending.discard()  # read by polars, which keeps its rows as text
            pending = None
        if previous and not remapped and (same_stat or previous[2] == checksum):
            if not same_stat:
                conn.execute(
                    "update raw.ingest_log set size_bytes = ?, modified_ns = ? where source = ? and file_name = ?",
                    [delivered.size, delivered.mtime_ns, source, delivered.name],
                )
            status = "failed" if previous[3] == "failed" else "unchanged"
            report.files.append(FileOutcome(delivered.name, status, reason=previous[4]))
            continue
        if before_load is not None:
            before_load(delivered.size)
        with transaction(conn):
            try:
                outcome = _load_with_fallback(
                    conn,
                    spec,
                    delivered,
                    now,
                    _first_reader(delivered, inner_blank),
                    mapping,
                    checksum,
                    stager,
                    pending,
                )
            finally:
                if pending is not None:
                    pending.discard()  # nothing when it was placed
                    pending.settle()  # the load commits once its archived copy is on disk
            _record_load(
                conn, source, delivered.name, delivered.size, delivered.mtime_ns, checksum, outcome, mapping, now
            )
        report.files.append(outcome)
    # The copies of files replaced or removed now, or left by a killed run, are no longer read.
    sweep(conn, archive_dir(conn), source)
    return _apply_cross_row_rules(conn, spec, mapping, report)


def _apply_cross_row_rules(
    conn: duckdb.DuckDBPyConnection, spec: Source, mapping: SourceMapping, report: SourceReport
) -> SourceReport:
    """Rebuild the source's excluded rows and quarantine when its files or a source it references changed."""
    source = spec.name
    signature = input_signature(conn, spec, mapping)
    state = conn.execute(
        "select signature, staged_rows, quarantined_rows, duplicates_collapsed from raw.staging_state where source = ?",
        [source],
    ).fetchall()
    if state and state[0][0] == signature:
        # Neither this source's files nor a source it references changed: staging and
        # quarantine are already what a rebuild would give (the daily case for history files).
        report.staged_rows, report.quarantined_rows, report.duplicates_collapsed = state[0][1:]
        return report
    with transaction(conn):
        report.staged_rows, report.quarantined_rows, report.duplicates_collapsed = apply_cross_row_rules(conn, spec)
        count_files(conn, spec)
        conn.execute(
            "insert or replace into raw.staging_state values (?, ?, ?, ?, ?)",
            [source, signature, report.staged_rows, report.quarantined_rows, report.duplicates_collapsed],
        )
    # The run's outcomes tell the counts after the cross-row rules too.
    counts = {
        name: (valid, quarantined)
        for name, valid, quarantined in conn.execute(
            "select file_name, rows_valid, rows_quarantined from raw.ingest_log where source = ? and status = 'loaded'",
            [source],
        ).fetchall()
    }
    for outcome in report.files:
        if outcome.status == "loaded" and outcome.file in counts:
            outcome.rows_valid, outcome.rows_quarantined = counts[outcome.file]
    return report


class Dataset(Protocol):
    """A source's dataset staged by another engine as a whole (the Spark engine's SparkDataset): a Parquet
    dataset or a catalog table named in sources.yaml, loaded as one delivered file called `name`."""

    name: str

    def signature(self) -> tuple[str | None, int, int]: ...

    def check(self) -> None: ...

    def header(self) -> list[str]: ...

    def stage(
        self, spec: Source, renames: dict[str, str], raw_folder: Path, values: dict[str, dict[str, str]]
    ) -> str: ...

    def clean(self) -> None: ...


def ingest_dataset(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    mapping: SourceMapping,
    dataset: Dataset,
    now: dt.datetime | None = None,
) -> SourceReport:
    """Bring `source` up to date with `dataset` (its sources.yaml input), staged by the dataset's engine.

    The dataset is one delivered file of the ingest log, `dataset.name`, whose checksum is the dataset's
    signature (a listing of its files with sizes and mtimes): an unchanged signature under the same mapping
    leaves it as it is, without reading it. The engine writes the rows' text into the archive (a folder of
    Parquet files that raw.<source> reads) and the typed, checked rows, which are inserted here; the
    cross-row rules then run as for files. A dataset whose signature cannot be told is read every run.
    `dataset.check()` may refuse a changed dataset (raising its own error) before anything is written.
    """
    spec = SOURCES[source]
    now = now or dt.datetime.now()
    folder = archive_dir(conn)
    if folder is None:
        raise ValueError("a dataset staged by another engine needs a database file (its archive holds the text)")
    catalog = read_catalog(conn)
    ensure_layers(conn, catalog)
    ensure_source_tables(conn, spec, catalog)
    report = SourceReport(source)
    known = {
        row[0]: row[1:]
        for row in conn.execute(
            "select file_name, sha256, status, reason from raw.ingest_log where source = ? and status <> 'ignored'",
            [source],
        ).fetchall()
    }
    loaded_with = dict(
        conn.execute("select file_name, mapping from raw.file_mapping where source = ?", [source]).fetchall()
    )
    name = dataset.name
    signature, size, mtime_ns = dataset.signature()
    previous = known.get(name)
    remapped = loaded_with.get(name, "") != mapping.digest
    unchanged = previous and not remapped and signature is not None and previous[0] == signature
    if not unchanged:
        dataset.check()  # before anything is written: the caller then loads the dataset another way
    _forget_removed(conn, spec, sorted(set(known) - {name}), report)
    if unchanged:
        status = "failed" if previous[1] == "failed" else "unchanged"
        report.files.append(FileOutcome(name, status, reason=previous[2]))
    else:
        # A dataset read at every run gets a checksum of its own each time: what it holds may have changed.
        checksum = signature or hashlib.sha256(f"{dataset.name} read at {now.isoformat()}".encode()).hexdigest()
        delivered = DeliveredFile(Path(name), source, size, mtime_ns)
        with transaction(conn):
            forget_file(conn, source, name)
            try:
                renames = column_names(dataset.header(), spec, mapping)
            except UnreadableFile as exc:
                outcome = FileOutcome(name, "failed", reason=str(exc))
            else:
                remember_headers(conn, spec, delivered, mapping, renames)
                # A folder of its own per load: the one the committed load refers to stays until this one commits.
                stamp = hashlib.sha256(f"{checksum} {now.isoformat()}".encode()).hexdigest()
                raw_folder = folder / source / f"{stamp[:16]}_{name}"
                typed = dataset.stage(spec, renames, raw_folder, mapping.values)
                try:
                    rows, rejected = type_and_validate(conn, spec, name, mapping, "", typed)
                finally:
                    dataset.clean()
                conn.execute(
                    "insert or replace into raw.archived_files values (?, ?, ?, ?, ?)",
                    [source, name, str(raw_folder), list(renames.values()), now],
                )
                outcome = FileOutcome(name, "loaded", rows, rows - rejected, rejected)
            refresh_raw_view(conn, spec)
            _record_load(conn, source, name, size, mtime_ns, checksum, outcome, mapping, now)
        report.files.append(outcome)
    sweep(conn, folder, source)
    return _apply_cross_row_rules(conn, spec, mapping, report)
