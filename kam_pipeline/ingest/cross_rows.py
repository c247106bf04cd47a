"""The rules across rows and sources, and what is rebuilt from every broken rule.

Duplicate keys with different content and unknown references are recorded in
quarantine.rule_violations; then staging.<source>_excluded (rejected rows and repeated
identical copies) and quarantine.<source> (rejected rows with every reason) are rebuilt.
"""

from __future__ import annotations

import duckdb

from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.layout import raw_relation
from kam_pipeline.warehouse.database import has_tables, scalar

# Keys delivered more than once, found in one pass over the typed rows and used by both the
# conflict rule and the collapsing of identical copies (a temporary table of this connection).
DUPLICATE_KEYS = "kam_duplicate_keys"
# The reason of every rejected row, and the delivered text of those rows, while quarantine.<source> is rebuilt.
REASONS = "kam_reasons"
# The files a rule last checked (state.<source>_<rule>_files): their loads (_LOADS), with the
# referenced sources' signatures then for the reference rule.
CHECKED_FILES = "state.{}_{}_files"
# What fixes a loaded file's typed rows: its name, content, load time and the mapping it was read under.
_LOADS = (
    "select l.file_name, l.sha256, l.ingested_at, m.mapping from raw.ingest_log as l "
    "left join raw.file_mapping as m on m.source = l.source and m.file_name = l.file_name "
    "where l.source = $source and l.status = 'loaded'"
)
DELIVERED = "kam_delivered"


def apply_cross_row_rules(conn: duckdb.DuckDBPyConnection, spec: Source) -> tuple[int, int, int]:
    """Record the cross-row violations and rebuild what depends on them; return (staged, quarantined, collapsed)."""
    if spec.key:
        _find_duplicate_keys(conn, spec)
    _cross_row_violations(conn, spec)
    counts = _rebuild(conn, spec)
    conn.execute(f"drop table if exists {DUPLICATE_KEYS}")
    return counts


def _find_duplicate_keys(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
    """Fill DUPLICATE_KEYS with the source's keys delivered more than once, and keep them for the next run.

    The typed rows of a loaded file never change (a file loaded again is deleted and typed anew,
    under a new ingest time), and a removed file can only take duplicates away. So a key delivered
    more than once now either was the last time (state.<source>_duplicate_keys, found among the
    files of state.<source>_duplicate_files) or has a row in a file loaded since: only those keys
    are counted, and a daily file costs a lookup of its own keys instead of grouping every key
    of the history. The first time (or after an upgrade) every key is grouped.
    """
    key = ", ".join(spec.key)
    typed = f"staging.{spec.name}_typed"
    keys = f"state.{spec.name}_duplicate_keys"
    since = _unchecked_files(conn, spec, "duplicate")
    if since is not None and has_tables(conn, "state", f"{spec.name}_duplicate_keys"):
        # A list of names, not a subquery: DuckDB then reads only those files' rows of the history.
        candidates = (
            f"(select {key} from {keys} union "
            f"select {key} from {typed} where list_contains($files::varchar[], _source_file))"
        )
        conn.execute(
            f"create or replace temp table {DUPLICATE_KEYS} as select {key} from {typed} "
            f"semi join {candidates} as c using ({key}) group by {key} having count(*) > 1",
            {"files": since},
        )
    else:
        conn.execute(
            f"create or replace temp table {DUPLICATE_KEYS} as "
            f"select {key} from {typed} group by {key} having count(*) > 1"
        )
    conn.execute("create schema if not exists state")
    conn.execute(f"create or replace table {keys} as select * from {DUPLICATE_KEYS}")
    _record_checked_files(conn, spec, "duplicate")


def _cross_row_violations(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
    """Record duplicate-key conflicts and unknown references for the source's delivered rows.

    Whether a row's reference is known depends on the row, fixed by its file's load, and on the
    referenced sources' staged rows, fixed by their input signatures (raw.staging_state). While
    those signatures are the ones of the last check (state.<source>_reference_files, with the
    files checked then), only the rows of the files loaded since are checked: a daily file costs
    a check of its own rows instead of every row of the history. A file loaded again or removed
    has lost its violations with its rows (layout.forget_file). The first time (or after an
    upgrade), or when a referenced source changed, every row is checked.
    """
    rules = {column: f"unknown {column} (not in {ref_source})" for column, (ref_source, _) in spec.references.items()}
    only, params = "", {"source": spec.name}
    if rules:
        # Of the reference violations, those of the files to check again go; the others stand.
        ref_state = _reference_state(conn, spec)
        unchecked = _unchecked_files(conn, spec, "reference", ref_state)
        if unchecked is None:
            unchecked = [
                name for (name,) in conn.execute(f"select file_name from ({_LOADS})", {"source": spec.name}).fetchall()
            ]
        only = " and (not list_contains($rules::varchar[], rule) or list_contains($files::varchar[], _source_file))"
        params |= {"rules": list(rules.values()), "files": unchecked}
    conn.execute(f"delete from quarantine.rule_violations where source = $source and stage = 'cross'{only}", params)
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
                where list_contains($files::varchar[], _source_file)
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
            {"source": spec.name, "column": column, "rule": rules[column], "files": unchecked},
        )
    if rules:
        _record_checked_files(conn, spec, "reference", ref_state)


def _reference_state(conn: duckdb.DuckDBPyConnection, spec: Source) -> str:
    """The input signatures of the sources `spec` references (raw.staging_state), as one text."""
    refs = sorted({ref for ref, _ in spec.references.values()})
    return repr(
        conn.execute(
            "select source, signature from raw.staging_state where source in (select unnest(?::varchar[])) "
            "order by source",
            [refs],
        ).fetchall()
    )


def _unchecked_files(conn: duckdb.DuckDBPyConnection, spec: Source, rule: str, ref_state: str = "") -> list[str] | None:
    """The source's loaded files that `rule` has not checked under their present load: all but those
    of its last check with the same name, content, load time and mapping (and referenced sources'
    signatures `ref_state`). None when the rule has no record of a check (the first time, or a
    database from before this record)."""
    table = CHECKED_FILES.format(spec.name, rule)
    schema, name = table.split(".")
    recorded = scalar(
        conn,
        "select count(*) from duckdb_columns() where database_name = current_database() and schema_name = ? "
        "and table_name = ? and column_name in ('mapping', 'ref_state')",
        [schema, name],
    )
    if recorded != 2:
        return None
    unchecked = conn.execute(
        f"""
        select l.file_name from ({_LOADS}) as l
        where not exists (
            select 1 from {table} as f
            where f.file_name = l.file_name and f.sha256 is not distinct from l.sha256
                and f.ingested_at = l.ingested_at and f.mapping is not distinct from l.mapping
                and f.ref_state = $ref_state
        )
        """,
        {"source": spec.name, "ref_state": ref_state},
    ).fetchall()
    return [file_name for (file_name,) in unchecked]


def _record_checked_files(conn: duckdb.DuckDBPyConnection, spec: Source, rule: str, ref_state: str = "") -> None:
    """Record the source's loaded files as checked by `rule` (read by _unchecked_files next time)."""
    conn.execute("create schema if not exists state")
    conn.execute(
        f"create or replace table {CHECKED_FILES.format(spec.name, rule)} as "
        f"select *, $ref_state as ref_state from ({_LOADS}) as l",
        {"source": spec.name, "ref_state": ref_state},
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
    conn.execute(
        f"""
        create or replace temp table {REASONS} as
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
        """,
        {"source": spec.name},
    )
    _gather_delivered(conn, spec)
    conn.execute(
        f"""
        create or replace table quarantine.{spec.name} as
        select r.*, reasons.reason, reasons.rules_broken
        from {DELIVERED} as r
        join {REASONS} as reasons using (_source_file, _row_number)
        order by r._source_file, r._row_number
        """
    )
    conn.execute(f"drop table {REASONS}")
    conn.execute(f"drop table {DELIVERED}")
    # staging.<source> is the typed rows minus the excluded ones, each excluded row a typed row
    # once: two table counts instead of the anti join over the whole history.
    staged = scalar(
        conn, f"select (select count(*) from {delivered}) - (select count(*) from staging.{spec.name}_excluded)"
    )
    quarantined = scalar(conn, f"select count(*) from quarantine.{spec.name}")
    return staged, quarantined, collapsed


def _gather_delivered(conn: duckdb.DuckDBPyConnection, spec: Source) -> None:
    """Fill DELIVERED with the delivered text of every row in REASONS.

    A row quarantined before keeps the text its quarantine row holds (a file loaded again
    lost its rows there, see `forget_file`); only the files of the other rows are read from
    raw, so a daily file does not make the rebuild parse the archived history again.
    """
    names = ", ".join(f'"{c}"' for c in [*spec.column_names, "_extra", "_source_file", "_row_number"])
    known = f"quarantine.{spec.name}"
    exists = scalar(
        conn, "select count(*) from duckdb_tables() where schema_name = 'quarantine' and table_name = ?", [spec.name]
    )
    reuse = f"select {names} from {known} semi join {REASONS} using (_source_file, _row_number)"
    empty = f"select {names} from raw.{spec.name}_rows where false"
    conn.execute(f"create or replace temp table {DELIVERED} as {reuse if exists else empty}")
    files = [
        row[0]
        for row in conn.execute(
            f"select distinct _source_file from {REASONS} anti join {DELIVERED} using (_source_file, _row_number)"
        ).fetchall()
    ]
    if files:
        conn.execute(
            f"""
            insert into {DELIVERED}
            select {names} from ({raw_relation(conn, spec, files)})
            semi join ({REASONS} anti join {DELIVERED} using (_source_file, _row_number)) using (_source_file, _row_number)
            """
        )
