"""Load one source's delivered files into raw, staging and quarantine (incremental by file).

Per source, persisted across runs:
  raw.<source>                 rows as delivered (text), unknown columns in `_extra` (JSON)
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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from kam_pipeline.ingest.contract import SOURCES, Source
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
    discover,
    ignored_files,
    normalise_header,
    read_as_text,
    scan_file,
    stream_csv,
)
from kam_pipeline.ingest.rules_sql import ident, lit, staged_columns, typed_rows, violations_query
from kam_pipeline.warehouse.database import scalar, transaction


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


def _catalog(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
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


_LAYER_TABLES = ("raw.ingest_log", "raw.staging_state", "raw.file_mapping", "quarantine.rule_violations")


def ensure_layers(conn: duckdb.DuckDBPyConnection, catalog: dict[str, str] | None = None) -> None:
    """Create the schemas and the shared bookkeeping tables if they do not exist."""
    catalog = _catalog(conn) if catalog is None else catalog
    if all(name in catalog for name in (*_LAYER_TABLES, "staging", "marts")):
        return
    for schema in ("raw", "staging", "quarantine", "marts"):
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


def ensure_source(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    """Create the layers and the (empty) tables of `source` as its first ingest does: raw.<source>,
    staging.<source>_typed, staging.<source>_excluded and the staging.<source> view (also those
    of the sources it references)."""
    catalog = _catalog(conn)
    ensure_layers(conn, catalog)
    _ensure_source_tables(conn, SOURCES[source], catalog)


def _ensure_source_tables(conn: duckdb.DuckDBPyConnection, spec: Source, catalog: dict[str, str]) -> None:
    # Referenced sources may not have been ingested yet; an empty table makes every reference unknown.
    for name in {spec.name, *(ref for ref, _ in spec.references.values())}:
        _ensure_staging(conn, name, catalog)
    if f"raw.{spec.name}" in catalog:
        return
    text_cols = ", ".join(f'"{c}" varchar' for c in spec.column_names)
    conn.execute(
        f"create table if not exists raw.{spec.name} ({text_cols}, _extra json, "
        "_source_file varchar not null, _row_number bigint not null, _ingested_at timestamp not null)"
    )


def _ensure_staging(conn: duckdb.DuckDBPyConnection, source: str, catalog: dict[str, str]) -> None:
    """Create staging.<source>_typed, staging.<source>_excluded and the staging.<source> view."""
    legacy = [name for name in (source, f"{source}_delivered") if catalog.get(f"staging.{name}") == "BASE TABLE"]
    if not legacy and all(f"staging.{name}" in catalog for name in (source, f"{source}_typed", f"{source}_excluded")):
        return
    if legacy:
        # A database from before staging became a view of typed rows: the source's files
        # are forgotten, so this run loads them again into the current layout.
        for name in legacy:
            conn.execute(f"drop table staging.{name}")
        conn.execute(f"drop view if exists staging.{source}")
        conn.execute(f"drop table if exists raw.{source}")
        catalog.pop(f"raw.{source}", None)
        conn.execute("delete from raw.ingest_log where source = ?", [source])
        conn.execute("delete from raw.staging_state where source = ?", [source])
        conn.execute("delete from raw.file_mapping where source = ?", [source])
        conn.execute("delete from quarantine.rule_violations where source = ?", [source])
    spec = SOURCES[source]
    typed_cols = ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns)
    conn.execute(
        f"create table if not exists staging.{source}_typed ({typed_cols}, "
        "_source_file varchar not null, _row_number bigint not null)"
    )
    conn.execute(
        f"create table if not exists staging.{source}_excluded (_source_file varchar not null, "
        "_row_number bigint not null)"
    )
    cols = ", ".join(spec.column_names)
    conn.execute(
        f"create view if not exists staging.{source} as select {cols}, _source_file, _row_number "
        f"from staging.{source}_typed anti join staging.{source}_excluded using (_source_file, _row_number)"
    )


def _forget_file(conn: duckdb.DuckDBPyConnection, source: str, file_name: str) -> None:
    for table in (f"raw.{source}", f"staging.{source}_typed"):
        conn.execute(f"delete from {table} where _source_file = ?", [file_name])
    conn.execute("delete from quarantine.rule_violations where source = ? and _source_file = ?", [source, file_name])
    conn.execute("delete from raw.file_mapping where source = ? and file_name = ?", [source, file_name])


# Rows read and inserted at a time by the polars readers: bounds memory for any file size.
BATCH_ROWS = 250_000


class FastPathFailed(Exception):
    """DuckDB's CSV reader could not read the file (encoding, ragged rows): read it with polars."""


def _load_file(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    reader: str,
    mapping: SourceMapping,
) -> FileOutcome:
    """Load one file into raw, then type and validate it in DuckDB; return its outcome.

    `reader` is `duckdb` (plain UTF-8 CSV, parallel, raises FastPathFailed when the file
    needs more), `stream` (polars in batches; raises StreamFailed likewise) or `whole`.
    """
    if reader == "duckdb":
        rows = _raw_from_duckdb(conn, spec, delivered, now, mapping)
    else:
        rows = _raw_from_polars(conn, spec, delivered, now, mapping, stream=reader == "stream")
    if rows is None:
        return FileOutcome(delivered.name, "loaded")
    rejected = _type_and_validate(conn, spec, delivered.name, mapping)
    return FileOutcome(delivered.name, "loaded", rows, rows - rejected, rejected)


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


def _remember_headers(
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


def _raw_from_duckdb(
    conn: duckdb.DuckDBPyConnection, spec: Source, delivered: DeliveredFile, now: dt.datetime, mapping: SourceMapping
) -> int:
    """Insert the file's rows into raw.<source> with DuckDB's CSV reader; return the rows read."""
    header = csv_header(delivered.path)
    if header is None:
        raise FastPathFailed("not a UTF-8 CSV file")
    try:
        renames = _names(header, spec, streamed=True, mapping=mapping)
    except StreamFailed as exc:
        raise FastPathFailed(str(exc)) from exc
    _remember_headers(conn, spec, delivered, mapping, renames)
    positions = {name: f"c{i}" for i, name in enumerate(renames.values(), start=1)}
    columns = "{" + ", ".join(f"{lit(p)}: 'VARCHAR'" for p in positions.values()) + "}"
    delivered_cols = ", ".join(f"{positions[c] if c in positions else 'null'} as {ident(c)}" for c in spec.column_names)
    extras = [n for n in positions if n not in spec.column_names]
    extra = f"json_object({', '.join(f'{lit(n)}, {positions[n]}' for n in extras)})" if extras else "null"
    not_blank = " or ".join(f"{p} is not null" for p in positions.values())
    # Quoted fields may span lines; strict mode makes a row wider than the header an error
    # (the polars reader then quarantines it), null padding fills a short row's last cells.
    source_sql = (
        f"read_csv({lit(str(delivered.path))}, header = true, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', columns = {columns}, strict_mode = true, null_padding = true)"
    )
    try:
        return conn.execute(
            f"""
            insert into raw.{spec.name} ({", ".join(ident(c) for c in spec.column_names)}, _extra,
                                         _source_file, _row_number, _ingested_at)
            select {", ".join(ident(c) for c in spec.column_names)}, _extra, $file, _row_number, $now
            from (
                select {delivered_cols}, {extra} as _extra, {not_blank} as _has_value,
                       row_number() over () as _row_number
                from {source_sql}
            )
            where _has_value
            """,
            {"file": delivered.name, "now": now},
        ).fetchall()[0][0]
    except duckdb.Error as exc:
        raise FastPathFailed(str(exc)) from exc


def _raw_from_polars(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    mapping: SourceMapping,
    stream: bool,
) -> int | None:
    """Insert the file's rows into raw.<source> with the polars readers; return the rows read (None: no columns)."""
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
    _remember_headers(conn, spec, delivered, mapping, renames)
    return sum(_insert_raw_batch(conn, spec, batch.rename(renames), delivered, now) for batch in batches)


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
        conn.execute(f"insert into raw.{spec.name} by name select * from raw_frame")
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


def _type_and_validate(conn: duckdb.DuckDBPyConnection, spec: Source, file_name: str, mapping: SourceMapping) -> int:
    """Type the file's raw rows and apply the row rules in DuckDB; return the rows rejected.

    Every row goes to staging.<source>_typed in one pass; the rules are then evaluated on
    the stored typed values, and only rows with a null or failing value go back to their
    delivered text for the reason. Broken rules go to quarantine.rule_violations.
    """
    params = {"source": spec.name, "file": file_name}
    this_file = "_source_file = $file"
    conn.execute(
        f"insert into staging.{spec.name}_typed "
        f"select {staged_columns(spec.name)}, _source_file, _row_number "
        f"from ({typed_rows(spec.name, this_file, mapping.values)})",
        {"file": file_name},
    )
    conn.execute(
        'insert into quarantine.rule_violations (source, _source_file, _row_number, "column", rule, value, stage) '
        f"select $source, _source_file, _row_number, \"column\", rule, value, 'row' "
        f"from ({violations_query(spec.name, this_file)})",
        params,
    )
    return scalar(
        conn,
        "select count(distinct _row_number) from quarantine.rule_violations "
        f"where source = $source and {this_file} and stage = 'row'",
        params,
    )


# Keys delivered more than once, found in one pass over the typed rows and used by both the
# conflict rule and the collapsing of identical copies (a temporary table of this connection).
DUPLICATE_KEYS = "kam_duplicate_keys"


def _apply_cross_row_rules(conn: duckdb.DuckDBPyConnection, spec: Source) -> tuple[int, int, int]:
    """Record the cross-row violations and rebuild what depends on them; return (staged, quarantined, collapsed)."""
    if spec.key:
        key = ", ".join(spec.key)
        conn.execute(
            f"create or replace temp table {DUPLICATE_KEYS} as "
            f"select {key} from staging.{spec.name}_typed group by {key} having count(*) > 1"
        )
    _cross_row_violations(conn, spec)
    counts = _rebuild(conn, spec)
    conn.execute(f"drop table if exists {DUPLICATE_KEYS}")
    return counts


def _cross_row_violations(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
    """Record duplicate-key conflicts and unknown references for the source's delivered rows."""
    conn.execute("delete from quarantine.rule_violations where source = ? and stage = 'cross'", [spec.name])
    if spec.key:
        key = ", ".join(spec.key)
        content = ", ".join(c for c in spec.column_names)
        key_text = " || '/' || ".join(f"cast({k} as varchar)" for k in spec.key)
        # Rows that passed the row rules, with a key delivered more than once (DUPLICATE_KEYS);
        # a rejected row takes no part in a key conflict.
        candidates = (
            f"(select * from staging.{spec.name}_typed semi join {DUPLICATE_KEYS} using ({key}) "
            f"anti join (select _source_file, _row_number from quarantine.rule_violations "
            f"where source = '{spec.name}' and stage = 'row') using (_source_file, _row_number))"
        )
        conn.execute(
            f"""
            insert into quarantine.rule_violations
            with conflicts as (
                select {key}
                from {candidates}
                group by {key}
                having count(distinct ({content})) > 1
            )
            select
                ? as source,
                d._source_file,
                d._row_number,
                ? as "column",
                'duplicate key with different content' as rule,
                {key_text} as value,
                'cross' as stage
            from {candidates} as d
            semi join conflicts using ({key})
            """,
            [spec.name, key],
        )
    for column, (ref_source, ref_column) in spec.references.items():
        # Every delivered row is checked, also one a row rule rejected, so its reason lists this too.
        conn.execute(
            f"""
            insert into quarantine.rule_violations
            with references_made as (
                select _source_file, _row_number, {column} as value from staging.{spec.name}_typed
            )
            select
                $source as source,
                m._source_file,
                m._row_number,
                $column as "column",
                $rule as rule,
                m.value,
                'cross' as stage,
            from references_made as m
            anti join staging.{ref_source} as s on s.{ref_column} = m.value
            where m.value is not null
            """,
            {
                "source": spec.name,
                "column": column,
                "rule": f"unknown {column} (not in {ref_source})",
            },
        )


def _rebuild(conn: duckdb.DuckDBPyConnection, spec: Source) -> tuple[int, int, int]:
    """Rebuild staging.<source>_excluded and quarantine.<source>; return (staged, quarantined, collapsed)."""
    delivered = f"staging.{spec.name}_typed"
    conn.execute(f"delete from staging.{spec.name}_excluded")
    conn.execute(
        f"""
        insert into staging.{spec.name}_excluded
        select distinct _source_file, _row_number from quarantine.rule_violations
        where source = $source
        """,
        {"source": spec.name},
    )
    collapsed = 0
    if spec.key:
        key = ", ".join(spec.key)
        # Identical re-deliveries of a key are collapsed to the first delivered copy; only keys
        # delivered more than once are looked at.
        collapsed = conn.execute(
            f"""
            insert into staging.{spec.name}_excluded
            select _source_file, _row_number
            from (
                select _source_file, _row_number,
                       row_number() over (partition by {key} order by _source_file, _row_number) as copy
                from {delivered}
                semi join {DUPLICATE_KEYS} using ({key})
                anti join staging.{spec.name}_excluded using (_source_file, _row_number)
            )
            where copy > 1
            """
        ).fetchall()[0][0]
    raw_cols = ", ".join(f'r."{c}"' for c in spec.column_names)
    conn.execute(
        f"""
        create or replace table quarantine.{spec.name} as
        with reasons as (
            select
                v._source_file,
                v._row_number,
                -- A column delivered under a header that sources.yaml mapped is named by that
                -- header first: `状态 (status): ...`.
                string_agg(
                    coalesce(m.headers[v."column"] || ' (' || v."column" || ')', v."column")
                    || ': ' || v.rule || coalesce(' (value ' || chr(39) || v.value || chr(39) || ')', ''),
                    '; ' order by v.stage desc, v."column", v.rule
                ) as reason,
                count(*) as rules_broken
            from quarantine.rule_violations as v
            left join raw.file_mapping as m on m.source = v.source and m.file_name = v._source_file
            where v.source = $source
            group by v._source_file, v._row_number
        )
        select {raw_cols}, r._extra, r._source_file, r._row_number, reasons.reason, reasons.rules_broken
        from raw.{spec.name} as r
        join reasons using (_source_file, _row_number)
        order by r._source_file, r._row_number
        """,
        {"source": spec.name},
    )
    staged = scalar(conn, f"select count(*) from staging.{spec.name}")
    quarantined = scalar(conn, f"select count(*) from quarantine.{spec.name}")
    return staged, quarantined, collapsed


# Each reader hands a file it cannot read to the next one; the last names the reason.
_NEXT_READER = {"duckdb": "stream", "stream": "whole"}


def _load_with_fallback(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    delivered: DeliveredFile,
    now: dt.datetime,
    reader: str,
    mapping: SourceMapping,
) -> FileOutcome:
    """Load the file inside the open transaction, restarting it with the next reader when one gives up."""
    while True:
        _forget_file(conn, spec.name, delivered.name)
        try:
            return _load_file(conn, spec, delivered, now, reader, mapping)
        except (FastPathFailed, StreamFailed):
            # Something only a later reader handles (another encoding, a ragged row): start
            # this file's transaction again.
            conn.execute("rollback")
            conn.execute("begin transaction")
            reader = _NEXT_READER[reader]
        except UnreadableFile as exc:
            return FileOutcome(delivered.name, "failed", reason=str(exc))


def _first_reader(delivered: DeliveredFile, inner_blank: bool) -> str:
    """The reader to try first: DuckDB's for CSV, polars' stream for CSV with blank lines, else the whole file."""
    if delivered.path.suffix.lower() != ".csv":
        return "whole"  # Parquet and Excel: only the polars readers know them
    return "stream" if inner_blank else "duckdb"


def ingest_source(
    conn: duckdb.DuckDBPyConnection,
    data_dir: Path,
    source: str,
    now: dt.datetime | None = None,
    mapping: SourceMapping | None = None,
) -> SourceReport:
    """Bring `source` up to date with the files in `data_dir`; return what happened per file.

    `mapping` (the source's part of sources.yaml, already validated) names the customer's
    headers and values; a file loaded under another mapping is loaded again.
    """
    spec = SOURCES[source]
    mapping = mapping or SourceMapping(source)
    now = now or dt.datetime.now()
    catalog = _catalog(conn)
    ensure_layers(conn, catalog)
    _ensure_source_tables(conn, spec, catalog)
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
    for name in sorted(set(known) - {f.name for f in found}):
        with transaction(conn):
            _forget_file(conn, source, name)
            conn.execute("delete from raw.ingest_log where source = ? and file_name = ?", [source, name])
        report.files.append(FileOutcome(name, "removed"))
    for delivered in found:
        previous = known.get(delivered.name)
        # Size and modification time spare hashing an untouched file; the checksum decides otherwise.
        same_stat = previous and (previous[0], previous[1]) == (delivered.size, delivered.mtime_ns)
        # A file loaded under another mapping (or none) is read again: its columns or values change.
        remapped = loaded_with.get(delivered.name, "") != mapping.digest
        checksum, inner_blank = (None, False) if same_stat and not remapped else scan_file(delivered.path)
        if previous and not remapped and (same_stat or previous[2] == checksum):
            if not same_stat:
                conn.execute(
                    "update raw.ingest_log set size_bytes = ?, modified_ns = ? where source = ? and file_name = ?",
                    [delivered.size, delivered.mtime_ns, source, delivered.name],
                )
            status = "failed" if previous[3] == "failed" else "unchanged"
            report.files.append(FileOutcome(delivered.name, status, reason=previous[4]))
            continue
        with transaction(conn):
            outcome = _load_with_fallback(conn, spec, delivered, now, _first_reader(delivered, inner_blank), mapping)
            if mapping.digest:
                # Also a file that failed is tried again when the mapping changes (it may be what fixes it).
                conn.execute(
                    "insert or ignore into raw.file_mapping values (?, ?, ?, map([]::varchar[], []::varchar[]))",
                    [source, delivered.name, mapping.digest],
                )
            conn.execute(
                "insert or replace into raw.ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    source,
                    delivered.name,
                    delivered.size,
                    delivered.mtime_ns,
                    checksum,
                    outcome.rows_read,
                    outcome.rows_valid,
                    outcome.rows_quarantined,
                    outcome.status,
                    outcome.reason,
                    now,
                ],
            )
        report.files.append(outcome)
    signature = _input_signature(conn, spec, mapping)
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
        report.staged_rows, report.quarantined_rows, report.duplicates_collapsed = _apply_cross_row_rules(conn, spec)
        _count_files(conn, spec)
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


def _count_files(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
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


def _input_signature(conn: duckdb.DuckDBPyConnection, spec: Source, mapping: SourceMapping) -> str:
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
