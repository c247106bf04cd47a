"""The tables of one source: raw.<source>, staging.<source>_typed / _excluded and the staging view.

raw.<source> is a view: the rows of the files kept in the archive (`archive.py`: a copy of
each plain CSV file, read again by the view) and raw.<source>_rows, the text of the files
only the polars readers read (Excel, Parquet, other encodings, ragged rows, blank lines).
A database from before staging became a view over typed rows is upgraded here: the
source's files are forgotten and loaded again into the current layout; one from before the
archive keeps its raw rows (its raw.<source> table becomes raw.<source>_rows).
"""

from __future__ import annotations

import duckdb

from kam_pipeline.ingest.archive import archived_rows
from kam_pipeline.ingest.contract import SOURCES, Source
from kam_pipeline.ingest.rules_sql import VIOLATIONS_TYPE, ident, lit
from kam_pipeline.warehouse.database import scalar


def ensure_source_tables(conn: duckdb.DuckDBPyConnection, spec: Source, catalog: dict[str, str]) -> None:
    # Referenced sources may not have been ingested yet; an empty table makes every reference unknown.
    for name in {spec.name, *(ref for ref, _ in spec.references.values())}:
        _ensure_staging(conn, name, catalog)
    if catalog.get(f"raw.{spec.name}") == "VIEW":
        return
    if catalog.get(f"raw.{spec.name}") == "BASE TABLE":
        # Written before the archive: the rows already read stay, as rows of the table, and
        # the typed rows get the column the row rules are now recorded in.
        conn.execute(f"alter table raw.{spec.name} rename to {spec.name}_rows")
        conn.execute(f"alter table staging.{spec.name}_typed add column if not exists _violations {VIOLATIONS_TYPE}")
    text_cols = ", ".join(f'"{c}" varchar' for c in spec.column_names)
    conn.execute(
        f"create table if not exists raw.{spec.name}_rows ({text_cols}, _extra json, "
        "_source_file varchar not null, _row_number bigint not null, _ingested_at timestamp not null)"
    )
    refresh_raw_view(conn, spec)


def raw_relation(conn: duckdb.DuckDBPyConnection, spec: Source, files: list[str] | None = None) -> str:
    """The rows of raw.<source> as a query (of `files` only, when given): the text table, then every archived file.

    Restricting to `files` spares parsing the archived files that are not needed.
    """
    archived = conn.execute(
        "select file_name, path, columns, ingested_at from raw.archived_files where source = ? order by file_name",
        [spec.name],
    ).fetchall()
    names = ", ".join(ident(c) for c in [*spec.column_names, "_extra", "_source_file", "_row_number", "_ingested_at"])
    where = "" if files is None else f" where _source_file in ({', '.join(lit(f) for f in files) or 'null'})"
    parts = [f"select {names} from raw.{spec.name}_rows{where}"]
    parts += [
        f"select {names} from ({archived_rows(spec, path, name, columns, ingested_at)})"
        for name, path, columns, ingested_at in archived
        if files is None or name in files
    ]
    return "\nunion all\n".join(parts)


def refresh_raw_view(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
    """(Re)create the view raw.<source> over the text table and the archived files of the source."""
    conn.execute(f"create or replace view raw.{spec.name} as {raw_relation(conn, spec)}")


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
        if catalog.get(f"raw.{source}") == "BASE TABLE":
            conn.execute(f"drop table raw.{source}")
        conn.execute(f"drop view if exists raw.{source}")
        conn.execute(f"drop table if exists raw.{source}_rows")
        catalog.pop(f"raw.{source}", None)
        conn.execute("delete from raw.archived_files where source = ?", [source])
        conn.execute("delete from raw.ingest_log where source = ?", [source])
        conn.execute("delete from raw.staging_state where source = ?", [source])
        conn.execute("delete from raw.file_mapping where source = ?", [source])
        conn.execute("delete from quarantine.rule_violations where source = ?", [source])
    spec = SOURCES[source]
    typed_cols = ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns)
    conn.execute(
        f"create table if not exists staging.{source}_typed ({typed_cols}, "
        f"_source_file varchar not null, _row_number bigint not null, _violations {VIOLATIONS_TYPE})"
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


def forget_file(conn: duckdb.DuckDBPyConnection, source: str, file_name: str) -> bool:
    """Delete what the file left in the tables (not its archived copy); return whether it was archived.

    Its rows of quarantine.<source> go too: a rebuild reuses the delivered text kept there
    for the files it does not read again.
    """
    tables = [f"raw.{source}_rows", f"staging.{source}_typed"]
    if scalar(
        conn, "select count(*) from duckdb_tables() where schema_name = 'quarantine' and table_name = ?", [source]
    ):
        tables.append(f"quarantine.{source}")
    for table in tables:
        conn.execute(f"delete from {table} where _source_file = ?", [file_name])
    archived = conn.execute(
        "delete from raw.archived_files where source = ? and file_name = ? returning path", [source, file_name]
    ).fetchall()
    conn.execute("delete from quarantine.rule_violations where source = ? and _source_file = ?", [source, file_name])
    conn.execute("delete from raw.file_mapping where source = ? and file_name = ?", [source, file_name])
    return bool(archived)
