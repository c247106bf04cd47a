"""Publishing: the `--db` file BI opens is a small DuckDB catalog of views over immutable Parquet files.

Next to `kam.duckdb` (the published catalog) live `kam.parquet/` (the files its views read)
and `kam.work.duckdb` (the pipeline's working database, where every step writes):

    kam.parquet/marts/<table>/as_of_date=<D>/<id>.parquet    one file per table and snapshot
    kam.parquet/<schema>/<name>/<id>-<file digest>.parquet    staging, quarantine: one per delivered file
    kam.parquet/<schema>/<name>/<id>.parquet                  the others (raw.ingest_log, rule_violations)

A publish writes the Parquet files of the run's as-of dates (every marts table) and, for every
other published relation, of the delivered files whose rows changed (or of the whole relation
when it changed and has no `_source_file`), each under a new name, never modified
afterwards; then it builds a new catalog whose views list exactly the current files and
swaps it over `kam.duckdb` with an atomic rename. So a publish costs the new snapshot, not
the history; a reader sees the previous catalog or the new one, whole; a run killed at any
moment leaves the last published catalog and the files it names. Files no catalog names any
more are removed once they have been out of the catalog for RETIRED_KEEP (a reader that
opened the previous catalog a moment ago can finish its queries), files of a killed publish
at the next one.

What is published is read from the working database, not listed here: every marts table,
every staging relation but the rows it is built from (`<source>_typed`, `<source>_excluded`),
every quarantine table and raw.ingest_log, with their table and column comments. The catalog's
own table `publish.files` lists the file behind every relation and snapshot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam_pipeline.warehouse.database import has_tables, literal
from kam_pipeline.warehouse.files import atomic_path, fsync_dir, fsync_file, remove_stale_temporaries

# Published relations by schema; None: all of them (minus the internal staging tables below).
PUBLISHED_SCHEMAS: dict[str, tuple[str, ...] | None] = {
    "marts": None,
    "staging": None,
    "quarantine": None,
    "raw": ("ingest_log",),
}
# staging.<source> is a view over these two; BI reads the view.
INTERNAL_SUFFIXES = ("_typed", "_excluded")
# A relation with this column is published one file per snapshot.
SNAPSHOT_COLUMN = "as_of_date"
# Any other relation with this column (staging and quarantine rows) is published one file per
# delivered file: a new daily file adds one Parquet file instead of rewriting the source's rows.
FILE_COLUMN = "_source_file"
# Marts a run rewrites for earlier dates too, published whole when their content changed (like
# staging): marts.score_backtest, whose older snapshots gain a horizon as later ones arrive.
WHOLE_HISTORY = frozenset({"marts.score_backtest"})
# How long a file stays on disk after the catalog stopped naming it.
RETIRED_KEEP = dt.timedelta(hours=1)
# The catalog is written in the storage format DuckDB 1.5 reads (see defs/resources.py).
CATALOG_CONFIG = {"storage_compatibility_version": "v1.5.0"}


def parquet_dir_for(db_path: str | Path) -> Path:
    """The folder of the published Parquet files: `kam.duckdb` -> `kam.parquet/`."""
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.stem}.parquet")


@dataclass(frozen=True)
class Relation:
    """One published relation of the working database: name, columns (name, type, comment), comment."""

    schema: str
    name: str
    columns: tuple[tuple[str, str, str | None], ...]
    comment: str | None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def layout(self) -> str:
        """The relation's column names and types in order: what a file written from it holds."""
        return ",".join(f"{name}:{kind}" for name, kind, _ in self.columns)

    @property
    def by_file(self) -> bool:
        """Published one Parquet file per delivered file (a non-snapshot relation with FILE_COLUMN)."""
        return not self.is_snapshot and any(name == FILE_COLUMN for name, _, _ in self.columns)

    @property
    def is_snapshot(self) -> bool:
        if self.qualified in WHOLE_HISTORY:
            return False
        return any(name == SNAPSHOT_COLUMN for name, _, _ in self.columns)


@dataclass(frozen=True)
class Part:
    """One Parquet file of a relation: the snapshot date or the delivered file whose rows it holds
    (both None: the whole relation), and the relation's column layout when it was written (None:
    not recorded, a catalog of an earlier version)."""

    relation: str
    as_of_date: dt.date | None
    path: str
    rows: int
    fingerprint: str | None
    layout: str | None = None
    source_file: str | None = None

    @property
    def key(self) -> tuple[str, dt.date | None, str | None]:
        return (self.relation, self.as_of_date, self.source_file)


@dataclass(frozen=True)
class PublishResult:
    """What a publish wrote: files and bytes (Parquet and catalog), and the relations published."""

    files_written: int
    bytes_written: int
    relations: int
    catalog_bytes: int


def publish(
    work: duckdb.DuckDBPyConnection,
    db_path: str | Path,
    dates: list[dt.date],
    keep: dt.timedelta = RETIRED_KEEP,
) -> PublishResult:
    """Publish the working database's state of `dates` (and every changed non-snapshot relation)
    as the catalog `db_path`; return what was written.

    Snapshots of other dates stay as published. The first publish into a file that has no
    `publish.files` table (a new file, or one written by a version that copied the whole
    database) writes every snapshot of every table.
    """
    db_path = Path(db_path)
    folder = parquet_dir_for(db_path)
    remove_stale_temporaries(db_path)
    for stale in db_path.parent.glob(f".{db_path.name}.*.tmp.wal"):  # a catalog killed while written
        stale.unlink(missing_ok=True)
    previous, retired = _read_manifest(db_path)
    token = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    parts: dict[tuple[str, dt.date | None, str | None], Part] = {}
    # The Parquet files to write, as _write_part's arguments after (relation, folder, token): written
    # once every relation is looked at, two at a time (_write_parts).
    jobs: list[tuple[Relation, dt.date | None, str | None, str | None, int | None]] = []
    relations = published_relations(work)
    for relation in relations:
        old = {key: part for key, part in (previous or {}).items() if key[0] == relation.qualified}
        parts.update(old)
        if relation.is_snapshot:
            fresh = previous is None or not old
            todo = _snapshot_dates(work, relation) if fresh else set(dates)
            # A file deleted by hand is written again from the working database.
            todo |= {d for (_, d, _), part in old.items() if not Path(part.path).exists()}
            for date in sorted(todo):
                parts.pop((relation.qualified, date, None), None)
                jobs.append((relation, date, None, None, None))
        elif relation.by_file:
            # Parts not of one delivered file (the whole relation, by an earlier version) give way.
            for key in [key for key in old if key[2] is None]:
                parts.pop(key)
            files = _file_fingerprints(work, relation)
            for key in [key for key in old if key[2] is not None and key[2] not in files]:
                parts.pop(key)  # a file no longer delivered, or all of whose rows are gone
            for name, (fingerprint, rows) in sorted(files.items()):
                current = old.get((relation.qualified, None, name))
                if current is None or current.fingerprint != fingerprint or not Path(current.path).exists():
                    jobs.append((relation, None, fingerprint, name, rows))
        else:
            # Parts of single dates (a relation published per snapshot by an earlier version) give way.
            for key in [key for key in old if key[1] is not None or key[2] is not None]:
                parts.pop(key)
            fingerprint = _fingerprint(work, relation)
            current = old.get((relation.qualified, None, None))
            if current is None or current.fingerprint != fingerprint or not Path(current.path).exists():
                jobs.append((relation, None, fingerprint, None, None))
    written: list[Path] = []
    for part in _write_parts(work, folder, token, jobs):
        if part is not None:  # None: a snapshot date with no rows
            parts[part.key] = part
            written.append(Path(part.path))
    for path in written:
        # Read-only: a reader admitted to the folder, or a person, cannot alter a published file in place.
        path.chmod(0o444)
        fsync_file(path)
    for directory in {p.parent for p in written}:
        fsync_dir(directory)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    current_paths = {part.path for part in parts.values()}
    for part in (previous or {}).values():
        if part.path not in current_paths:
            retired.setdefault(part.path, now)
    expired = {path for path, at in retired.items() if at < now - keep or path in current_paths}
    retired = {path: at for path, at in retired.items() if path not in expired}
    with atomic_path(db_path) as tmp:
        _write_catalog(tmp, relations, parts, retired)
    # A WAL beside the published file can only be stale (readers open it read-only);
    # DuckDB would replay it into the new file, so it goes.
    Path(f"{db_path}.wal").unlink(missing_ok=True)
    _collect_garbage(folder, current_paths | set(retired), expired)
    catalog_bytes = db_path.stat().st_size
    return PublishResult(
        files_written=len(written),
        bytes_written=sum(p.stat().st_size for p in written) + catalog_bytes,
        relations=len(relations),
        catalog_bytes=catalog_bytes,
    )


def published_relations(conn: duckdb.DuckDBPyConnection) -> list[Relation]:
    """Every relation of the working database that BI reads, with its columns and comments, by name."""
    rows = conn.execute(
        """
        with relations as (
            select schema_name, table_name as name, comment from duckdb_tables()
            where database_name = current_database() and not temporary
            union all
            select schema_name, view_name, comment from duckdb_views()
            where database_name = current_database() and not temporary and not internal
        )
        select r.schema_name, r.name, r.comment,
               list((c.column_name, c.data_type, c.comment) order by c.column_index)
        from relations r
        join duckdb_columns() c
          on c.database_name = current_database() and c.schema_name = r.schema_name and c.table_name = r.name
        where r.schema_name in ?
        group by all
        order by 1, 2
        """,
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    relations = []
    names = {(schema, name) for schema, name, *_ in rows}
    for schema, name, comment, columns in rows:
        wanted = PUBLISHED_SCHEMAS[schema]
        if wanted is not None and name not in wanted:
            continue
        if any(name.endswith(s) and (schema, name.removesuffix(s)) in names for s in INTERNAL_SUFFIXES):
            continue
        relations.append(Relation(schema, name, tuple(tuple(c) for c in columns), comment))
    return relations


def _snapshot_dates(conn: duckdb.DuckDBPyConnection, relation: Relation) -> set[dt.date]:
    return {
        row[0]
        for row in conn.execute(f"select distinct {SNAPSHOT_COLUMN} from {_quoted(relation)}").fetchall()
        if row[0] is not None
    }


def _fingerprint(conn: duckdb.DuckDBPyConnection, relation: Relation) -> str:
    """A digest of a relation's content and columns: a relation whose digest did not change is not
    written again (staging and quarantine change only when files are delivered)."""
    count, digest = conn.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {_quoted(relation)} as t").fetchone()
    columns = ",".join(f"{name}:{kind}" for name, kind, _ in relation.columns)
    return hashlib.sha256(f"{count}|{digest}|{columns}".encode()).hexdigest()[:32]


def _file_fingerprints(conn: duckdb.DuckDBPyConnection, relation: Relation) -> dict[str, tuple[str, int]]:
    """Per delivered file ('' for rows without one): a digest of its rows and columns, and its row count."""
    columns = relation.layout
    names = (relation.schema, f"{relation.name}_typed", f"{relation.name}_excluded")
    if relation.schema == "staging" and has_tables(conn, *names):
        return _staged_file_fingerprints(conn, relation)
    return {
        name: (hashlib.sha256(f"{count}|{digest}|{columns}".encode()).hexdigest()[:32], count)
        for name, count, digest in conn.execute(
            f"select coalesce({FILE_COLUMN}, ''), count(*), coalesce(sum(hash(t)), 0) "
            f"from {_quoted(relation)} as t group by all"
        ).fetchall()
    }


def _staged_file_fingerprints(conn: duckdb.DuckDBPyConnection, relation: Relation) -> dict[str, tuple[str, int]]:
    """`_file_fingerprints` of a staging view (typed rows minus excluded ones) without reading its rows.

    A file's typed rows are fixed by its load (content and ingest time in raw.ingest_log, the
    mapping in raw.file_mapping: a file loaded again is typed anew, at a new time), so its staged
    rows are fixed by that load and the rows of it excluded since (the cross-row rules): those are
    digested instead of every row of the history, which a daily run would otherwise hash again.
    """
    name = relation.name
    rows = conn.execute(
        f"""
        with typed as (
            select _source_file, count(*) as delivered from staging.{name}_typed group by _source_file
        ),
        excluded as (
            select _source_file, count(*) as excluded, sum(hash(_row_number)) as digest
            from staging.{name}_excluded group by _source_file
        )
        select t._source_file, t.delivered - coalesce(e.excluded, 0), l.sha256, l.ingested_at, m.mapping,
               coalesce(e.excluded, 0), coalesce(e.digest, 0)
        from typed as t
        left join excluded as e using (_source_file)
        left join raw.ingest_log as l on l.source = $source and l.file_name = t._source_file
        left join raw.file_mapping as m on m.source = $source and m.file_name = t._source_file
        where t.delivered > coalesce(e.excluded, 0)
        """,
        {"source": name},
    ).fetchall()
    return {
        file: (hashlib.sha256(f"staged|{count}|{load}|{relation.layout}".encode()).hexdigest()[:32], count)
        for file, count, *load in rows
    }


def _write_parts(
    work: duckdb.DuckDBPyConnection,
    folder: Path,
    token: str,
    jobs: list[tuple[Relation, dt.date | None, str | None, str | None, int | None]],
) -> list[Part | None]:
    """_write_part of every job, two at a time when DuckDB may use two threads, each on a cursor of its
    own; the parts in the jobs' order.

    DuckDB writes one Parquet file of a few row groups mostly on one core: the 40-odd files of a
    daily run (score_changes the largest) and the staged files of a full load were written one
    after another while the second core waited. The writes only read the working database.
    """
    threads = int(work.execute("select current_setting('threads')").fetchone()[0])
    if threads < 2 or len(jobs) < 2:
        return [_write_part(work, relation, folder, token, *job) for relation, *job in jobs]
    local = threading.local()
    cursors: list[duckdb.DuckDBPyConnection] = []

    def write(job: tuple[Relation, dt.date | None, str | None, str | None, int | None]) -> Part | None:
        if not hasattr(local, "cursor"):
            local.cursor = work.cursor()
            cursors.append(local.cursor)
        relation, *rest = job
        return _write_part(local.cursor, relation, folder, token, *rest)

    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kam-publish") as pool:
            return list(pool.map(write, jobs))
    finally:
        for cursor in cursors:
            cursor.close()


def _write_part(
    conn: duckdb.DuckDBPyConnection,
    relation: Relation,
    folder: Path,
    token: str,
    date: dt.date | None,
    fingerprint: str | None = None,
    source_file: str | None = None,
    rows: int | None = None,
) -> Part | None:
    """Write one new Parquet file of `relation` (the snapshot `date`, the rows of `source_file`, or
    all of it); return its Part, or None for a snapshot with no rows."""
    directory = folder / relation.schema / relation.name
    where = ""
    if source_file is not None:
        where = f" where coalesce({FILE_COLUMN}, '') = {literal(source_file)}"
        # File names can hold any character: the Parquet file is named by a digest of it.
        token = f"{token}-{hashlib.sha256(source_file.encode()).hexdigest()[:12]}"
    elif date is not None:
        directory = directory / f"{SNAPSHOT_COLUMN}={date.isoformat()}"
        where = f" where {SNAPSHOT_COLUMN} = date '{date.isoformat()}'"
        rows = conn.execute(f"select count(*) from {_quoted(relation)}{where}").fetchone()[0]
        if not rows:
            return None
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"{token}.parquet").resolve()
    # A name made of our timestamp and a random id: never an existing file, never quoted wrongly.
    # DuckDB's default row groups (122,880 rows): groups of 1M rows cost a fifth more CPU to write and
    # were held in memory meanwhile (the step's resident set at 10M: 1.3 GiB against 0.9).
    conn.execute(
        f"copy (select * from {_quoted(relation)}{where}) to {literal(str(path))} (format parquet, compression zstd)"
    )
    if rows is None:
        rows = conn.execute(f"select count(*) from read_parquet({literal(str(path))})").fetchone()[0]
    return Part(relation.qualified, date, str(path), rows, fingerprint, relation.layout, source_file)


def _write_catalog(
    path: Path,
    relations: list[Relation],
    parts: dict[tuple[str, dt.date | None, str | None], Part],
    retired: dict[str, dt.datetime],
) -> None:
    """Write the catalog: one view per relation over its files, its comments, and the manifest."""
    by_relation: dict[str, list[Part]] = {}
    for part in sorted(parts.values(), key=lambda p: (p.relation, p.as_of_date or dt.date.min, p.source_file or "")):
        by_relation.setdefault(part.relation, []).append(part)
    # A checkpoint threshold of zero: the commit writes the new file's blocks directly instead of
    # logging the whole catalog first and copying it in at the checkpoint (at 365 snapshots 5.5
    # MiB of log and 2.8 MiB of file, against 2.8 MiB).
    with duckdb.connect(str(path), config={**CATALOG_CONFIG, "checkpoint_threshold": "0b"}) as cat:
        # One transaction: each view, comment and insert committed alone was logged and synced alone.
        cat.execute("begin transaction")
        for schema in sorted({r.schema for r in relations} | {"publish"}):
            cat.execute(f"create schema if not exists {schema}")
        for relation in relations:
            cat.execute(_view_sql(relation, by_relation.get(relation.qualified, [])))
            if relation.comment:
                cat.execute(f"comment on view {_quoted(relation)} is {literal(relation.comment)}")
            for name, _, comment in relation.columns:
                if comment:
                    cat.execute(f'comment on column {_quoted(relation)}."{name}" is {literal(comment)}')
        cat.execute(
            "create table publish.files (relation varchar not null, as_of_date date, path varchar not null, "
            "rows bigint not null, fingerprint varchar, layout varchar, source_file varchar)"
        )
        cat.execute("create table publish.retired (path varchar not null, retired_at timestamp not null)")
        # One statement per table: executemany ran one autocommitted insert per file, each logged
        # on its own (at 365 snapshots x 20 relations: 13 s and 31 MiB of log for a 0.5 MB table).
        listed = list(parts.values())
        cat.execute(
            "insert into publish.files select unnest(?::varchar[]), unnest(?::date[]), unnest(?::varchar[]), "
            "unnest(?::bigint[]), unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[])",
            [
                [p.relation for p in listed],
                [p.as_of_date for p in listed],
                [p.path for p in listed],
                [p.rows for p in listed],
                [p.fingerprint for p in listed],
                [p.layout for p in listed],
                [p.source_file for p in listed],
            ],
        )
        cat.execute(
            "insert into publish.retired select unnest(?::varchar[]), unnest(?::timestamp[])",
            [list(retired), list(retired.values())],
        )
        cat.execute("comment on table publish.files is 'The Parquet file behind every published relation and snapshot'")
        cat.execute("comment on table publish.retired is 'Files no view reads any more, removed an hour after'")
        cat.execute("commit")
        cat.execute("checkpoint")


def _view_sql(relation: Relation, parts: list[Part]) -> str:
    """`create view` over the relation's files, with the working database's column order and types;
    columns added after a file was written read as null in it (union_by_name).

    When every file holds exactly the relation's columns (the usual case), the files are read by
    position: union_by_name makes every query that binds the view read the schema of every file
    (365 daily files: most of the report's 4 CPU-seconds of reading, against 0.3 s for one)."""
    columns = ", ".join(f'cast("{name}" as {kind}) as "{name}"' for name, kind, _ in relation.columns)
    if not parts:
        nulls = ", ".join(f'cast(null as {kind}) as "{name}"' for name, kind, _ in relation.columns)
        return f"create view {_quoted(relation)} as select {nulls} where false"
    files = ", ".join(literal(p.path) for p in parts)
    by_name = "false" if all(p.layout == relation.layout for p in parts) else "true"
    return (
        f"create view {_quoted(relation)} as select {columns} "
        f"from read_parquet([{files}], union_by_name = {by_name}, {_partitioning(parts)})"
    )


def _partitioning(parts: list[Part]) -> str:
    """read_parquet's partitioning options for a view over `parts`.

    When every file is one snapshot in its `as_of_date=<D>` folder, the view reads the date from
    the folder name: a query filtering on as_of_date then opens only the files of the dates it
    asks for (at 365 snapshots the report's and BI's one-date queries opened all 365 files to
    read their statistics). The value is the same as the file's own column."""
    by_date = all(
        p.as_of_date is not None and Path(p.path).parent.name == f"{SNAPSHOT_COLUMN}={p.as_of_date.isoformat()}"
        for p in parts
    )
    if not by_date:
        return "hive_partitioning = false"
    return f"hive_partitioning = true, hive_types = {{'{SNAPSHOT_COLUMN}': date}}"


def _read_manifest(
    db_path: Path,
) -> tuple[dict[tuple[str, dt.date | None, str | None], Part] | None, dict[str, dt.datetime]]:
    """The parts and retired files of the published catalog; (None, {}) when it has no manifest."""
    if not db_path.exists():
        return None, {}
    with duckdb.connect(str(db_path), read_only=True) as cat:
        has = cat.execute(
            "select count(*) from duckdb_tables() where schema_name = 'publish' and table_name in ('files', 'retired')"
        ).fetchone()[0]
        if has < 2:
            return None, {}
        # `layout` and `source_file` came later: a catalog without them reads as layouts unknown
        # and parts of whole relations.
        later = ", ".join(c if _has_column(cat, "publish", "files", c) else "null" for c in ("layout", "source_file"))
        listed = [
            Part(*row)
            for row in cat.execute(
                f"select relation, as_of_date, path, rows, fingerprint, {later} from publish.files"
            ).fetchall()
        ]
        parts = {part.key: part for part in listed}
        retired = dict(cat.execute("select path, retired_at from publish.retired").fetchall())
    return parts, retired


def _has_column(conn: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from duckdb_columns() where schema_name = ? and table_name = ? and column_name = ?",
            [schema, table, column],
        ).fetchone()[0]
    )


def _collect_garbage(folder: Path, kept: set[str], expired: set[str]) -> None:
    """Remove expired files and any Parquet file under `folder` the catalog does not know (a killed
    publish's), then the folders left empty."""
    for path in expired:
        Path(path).unlink(missing_ok=True)
    if not folder.is_dir():
        return
    # One walk, deepest folders first, over plain strings: the folder holds a file and a folder
    # per table and snapshot (7,300 of each at 365 snapshots), and a Path per entry, resolved,
    # then a second walk for the empty folders took a second of a daily run.
    root = folder.resolve()
    for directory, _, names in os.walk(root, topdown=False):
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(".parquet") and path not in kept:
                Path(path).unlink(missing_ok=True)
        if directory != str(root) and not os.listdir(directory):
            os.rmdir(directory)


def _quoted(relation: Relation) -> str:
    return f'{relation.schema}."{relation.name}"'


def published_bytes(db_path: str | Path) -> int:
    """Bytes on disk of the published catalog and its Parquet folder."""
    db_path = Path(db_path)
    folder = parquet_dir_for(db_path)
    files = [db_path, *(folder.rglob("*.parquet") if folder.is_dir() else [])]
    return sum(p.stat().st_size for p in files if p.exists())
