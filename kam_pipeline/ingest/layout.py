"""The tables of one source: raw.<source>, staging.<source>_typed / _excluded and the staging view.

A database from before staging became a view over typed rows is upgraded here: the
source's files are forgotten and loaded again into the current layout.
"""

from __future__ import annotations

import duckdb

from kam_pipeline.ingest.contract import SOURCES, Source


def ensure_source_tables(conn: duckdb.DuckDBPyConnection, spec: Source, catalog: dict[str, str]) -> None:
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


def forget_file(conn: duckdb.DuckDBPyConnection, source: str, file_name: str) -> None:
    for table in (f"raw.{source}", f"staging.{source}_typed"):
        conn.execute(f"delete from {table} where _source_file = ?", [file_name])
    conn.execute("delete from quarantine.rule_violations where source = ? and _source_file = ?", [source, file_name])
    conn.execute("delete from raw.file_mapping where source = ? and file_name = ?", [source, file_name])
