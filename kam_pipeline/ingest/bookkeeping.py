"""The ingestion's bookkeeping: the shared tables, raw.ingest_log, per-file outcomes and what a rebuild depends on.

raw.ingest_log     one row per delivered or ignored file: its identity (size, time,
                   checksum), its counts and its status
raw.staging_state  per source, the signature of the inputs its staging was built from
raw.file_mapping   the sources.yaml mapping each file was loaded under
raw.archived_files the archived copy of each plain CSV file (`archive.py`)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.mapping import SourceMapping
from kam_pipeline.ingest.reader import ignored_files
from kam_pipeline.warehouse.database import transaction


@dataclass
class FileOutcome:
    """What happened to one delivered file in this run."""

    file: str
    status: str  # loaded | unchanged | failed | removed | ignored
    rows_read: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    reason: str | None = None


@dataclass
class SourceReport:
    """The result of ingesting one source: per-file outcomes and final table counts."""

    source: str
    files: list[FileOutcome] = field(default_factory=list)
    staged_rows: int = 0
    quarantined_rows: int = 0
    duplicates_collapsed: int = 0

    @property
    def unreadable(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]


def read_catalog(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """`schema.name` -> table type ('BASE TABLE' or 'VIEW') of every table and view, plus
    `schema` -> 'SCHEMA': one catalog query, so a run on an existing database issues no DDL."""
    return dict(
        conn.execute(
            "select table_schema || '.' || table_name, table_type from information_schema.tables "
            "where table_catalog = current_database() "
            "union all select schema_name, 'SCHEMA' from information_schema.schemata "
            "where catalog_name = current_database()"
        ).fetchall()
    )


_LAYER_TABLES = (
    "raw.ingest_log",
    "raw.staging_state",
    "raw.file_mapping",
    "raw.archived_files",
    "quarantine.rule_violations",
)


def ensure_layers(conn: duckdb.DuckDBPyConnection, catalog: dict[str, str] | None = None) -> None:
    """Create the schemas and the shared bookkeeping tables if they do not exist."""
    catalog = read_catalog(conn) if catalog is None else catalog
    # `state` holds what the cross-row rules keep between runs (cross_rows.py).
    if all(name in catalog for name in (*_LAYER_TABLES, "staging", "marts", "state")):
        return
    for schema in ("raw", "staging", "quarantine", "marts", "state"):
        conn.execute(f"create schema if not exists {schema}")
    conn.execute(
        """
        create table if not exists raw.ingest_log (
            source varchar not null,
            file_name varchar not null,
            size_bytes bigint,
            modified_ns bigint,
            sha256 varchar,
            rows_read bigint,
            rows_valid bigint,
            rows_quarantined bigint,
            status varchar not null,
            reason varchar,
            ingested_at timestamp not null,
            primary key (source, file_name)
        )
        """
    )
    conn.execute(
        """
        create table if not exists raw.staging_state (
            source varchar primary key,
            signature varchar not null,
            staged_rows bigint not null,
            quarantined_rows bigint not null,
            duplicates_collapsed bigint not null
        )
        """
    )
    # A file is loaded again when the mapping it was loaded with changed; a quarantine reason
    # names the header a mapped column was delivered under.
    conn.execute(
        """
        create table if not exists raw.file_mapping (
            source varchar not null,
            file_name varchar not null,
            mapping varchar not null,
            headers map(varchar, varchar) not null,
            primary key (source, file_name)
        )
        """
    )
    # The archived copy of each plain CSV file (see archive.py), read by the view raw.<source>.
    conn.execute(
        """
        create table if not exists raw.archived_files (
            source varchar not null,
            file_name varchar not null,
            path varchar not null,
            columns varchar[] not null,
            ingested_at timestamp not null,
            primary key (source, file_name)
        )
        """
    )
    conn.execute(
        """
        create table if not exists quarantine.rule_violations (
            source varchar not null,
            _source_file varchar not null,
            _row_number bigint not null,
            "column" varchar not null,
            rule varchar not null,
            value varchar,
            stage varchar not null
        )
        """
    )


def count_files(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
    """Set each loaded file's rows_valid and rows_quarantined in raw.ingest_log from the rebuilt tables.

    After the cross-row rules a file's rows are: valid (in staging.<source>), quarantined
    (in quarantine.<source>, for any rule), or an identical copy of a row delivered earlier
    (same key and content, collapsed into the first copy by file name and row, counted in
    neither). So rows_read = rows_valid + rows_quarantined + copies collapsed. A row leaves
    staging only through staging.<source>_excluded, which holds both the rejected rows and
    the collapsed copies: its count per file spares counting the staged history.
    """
    conn.execute(
        f"""
        update raw.ingest_log as l
        set rows_valid = c.rows_valid, rows_quarantined = c.rows_quarantined
        from (
            select f.file_name, f.rows_read - coalesce(x.rows, 0) as rows_valid,
                   coalesce(q.rows, 0) as rows_quarantined
            from raw.ingest_log as f
            left join (select _source_file, count(*) as rows from staging.{spec.name}_excluded group by all) as x
                on x._source_file = f.file_name
            left join (select _source_file, count(*) as rows from quarantine.{spec.name} group by all) as q
                on q._source_file = f.file_name
            where f.source = $source and f.status = 'loaded'
        ) as c
        where l.source = $source and l.file_name = c.file_name
          and (l.rows_valid is distinct from c.rows_valid or l.rows_quarantined is distinct from c.rows_quarantined)
        """,
        {"source": spec.name},
    )


# Stands for the source of an ignored file whose name is no source's (raw.ingest_log.source).
NO_SOURCE = "(none)"


def record_ignored(
    conn: duckdb.DuckDBPyConnection,
    data_dir: Path,
    now: dt.datetime | None = None,
    mapping_file: Path | None = None,
) -> list[tuple[str, FileOutcome]]:
    """List the files of `data_dir` that no source reads in raw.ingest_log (status `ignored`);
    return (source, outcome) of each.

    A file is attributed to the source its name starts with (`orders.xlsm` to orders),
    else to NO_SOURCE. Ignored files no longer in the folder (or read now) leave the
    log; a file listed before keeps its row and time unless its size, time or reason
    changed, so a re-run writes nothing.
    """
    now = now or dt.datetime.now()
    ensure_layers(conn)
    files = ignored_files(data_dir, mapping_file)
    listed = pl.DataFrame(
        [(f.source or NO_SOURCE, f.name, f.size, f.mtime_ns, f.reason) for f in files],
        schema={
            "source": pl.String,
            "file_name": pl.String,
            "size_bytes": pl.Int64,
            "modified_ns": pl.Int64,
            "reason": pl.String,
        },
        orient="row",
    )
    conn.register("ignored_frame", listed)
    try:
        with transaction(conn):
            conn.execute(
                "delete from raw.ingest_log as l where status = 'ignored' and not exists "
                "(select 1 from ignored_frame as f where f.source = l.source and f.file_name = l.file_name)"
            )
            # A file still logged as read (a link now pointing outside the folder) is its
            # source's to forget first; it is listed on the next run.
            conn.execute(
                """
                insert or replace into raw.ingest_log
                select source, file_name, size_bytes, modified_ns, null, null, null, null, 'ignored', reason, $now
                from ignored_frame as f
                where not exists (
                    select 1 from raw.ingest_log as l
                    where l.source = f.source and l.file_name = f.file_name
                      and (l.status <> 'ignored' or (l.size_bytes, l.modified_ns, l.reason)
                           = (f.size_bytes, f.modified_ns, f.reason))
                )
                """,
                {"now": now},
            )
    finally:
        with contextlib.suppress(duckdb.Error):
            conn.unregister("ignored_frame")
    return [(f.source or NO_SOURCE, FileOutcome(f.name, "ignored", reason=f.reason)) for f in files]


# Changes when a rebuild gives other results from the same files: a database written by an
# older version then rebuilds every source once (2: raw.ingest_log counts follow the cross-row rules).
SIGNATURE_VERSION = 2


def input_signature(conn: duckdb.DuckDBPyConnection, spec: Source, mapping: SourceMapping) -> str:
    """A digest of what staging.<source> is built from: its files, its mapping and the sources it references."""
    own = conn.execute(
        "select file_name, sha256, status from raw.ingest_log where source = ? and status <> 'ignored' "
        "order by file_name",
        [spec.name],
    ).fetchall()
    refs = sorted({ref for ref, _ in spec.references.values()})
    ref_state = conn.execute(
        "select source, signature from raw.staging_state where source in (select unnest(?::varchar[])) order by source",
        [refs],
    ).fetchall()
    # Without a mapping the digest is left out, so a source that has none keeps the signature it
    # had before mappings existed (only SIGNATURE_VERSION decides whether an upgrade rebuilds it).
    state = (
        (SIGNATURE_VERSION, own, ref_state, mapping.digest) if mapping.digest else (SIGNATURE_VERSION, own, ref_state)
    )
    return hashlib.sha256(repr(state).encode()).hexdigest()
