"""What BI tools do with the published file: the README's connection snippets, locked-down readers,
SQLAlchemy through duckdb-engine, the DuckDB CLI, the data dictionary and the Parquet export."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF
from kam_pipeline.cli import main
from kam_pipeline.warehouse.datadict import data_dictionary, undocumented_columns

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def lock_down(conn, db: Path) -> None:
    """What docs/bi.md tells a locked-down reader to run after connecting: admit the published
    Parquet folder (DuckDB takes allowed_directories only once connected), then shut the rest."""
    folder = db.with_name(f"{db.stem}.parquet").as_posix()
    conn.execute(f"set allowed_directories = ['{folder}/']")
    conn.execute("set enable_external_access = false")
    conn.execute("set lock_configuration = true")


def _snippet(name: str, db: Path) -> str:
    """Return the README code block marked `<!-- bi-snippet: name -->`, pointed at `db` (and its Parquet folder)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- bi-snippet: {name} -->\s*```python\n(.*?)```", readme, re.S)
    assert match, f"README has no bi-snippet '{name}'"
    return match[1].replace("data/kam.", f"{db.parent.as_posix()}/{db.stem}.")


def test_the_readme_python_snippet_reads_the_latest_snapshot(pipeline_db):
    scope: dict = {}
    exec(_snippet("python", pipeline_db), scope)  # noqa: S102 (our own README)
    latest = scope["latest"]
    assert len(latest) > 0 and set(latest["as_of_date"].astype(str)) == {AS_OF.isoformat()}
    assert list(latest["rank"]) == sorted(latest["rank"])
    # The snippet's reader is locked down: nothing outside the Parquet folder.
    with pytest.raises(duckdb.Error, match="disabled by configuration"):
        scope["conn"].execute("select * from read_csv('/etc/passwd')")
    scope["conn"].close()


def test_the_readme_sqlalchemy_snippet_reads_through_duckdb_engine(pipeline_db):
    scope: dict = {}
    exec(_snippet("sqlalchemy", pipeline_db), scope)  # noqa: S102
    top = scope["top"]
    assert len(top) == 10 and all(0 <= score <= 100 for _, score in top)
    import sqlalchemy as sa

    with scope["engine"].connect() as conn, pytest.raises(sa.exc.DBAPIError, match="disabled by configuration"):
        conn.execute(sa.text("select * from read_csv('/etc/passwd')"))
    scope["engine"].dispose()


@pytest.fixture()
def reader(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        lock_down(conn, pipeline_db)
        yield conn


@pytest.mark.parametrize(
    "statement",
    [
        "create table marts.x as select 1 as a",
        "delete from marts.account_scores",
        "select * from read_csv('/etc/passwd')",
        "copy marts.account_scores to '/tmp/kam_leak.csv'",
        "attach '/tmp/kam_other.duckdb' as other",
        "set enable_external_access = true",
        "reset lock_configuration",
        "set allowed_directories = ['/']",
        # The working database and the delivered files lie beside the admitted folder, not in it.
        "attach '{work}' as work (read_only)",
        "select * from read_parquet('{parquet}/../kam.work.duckdb')",
        "select * from read_csv('{data}/accounts.csv')",
    ],
)
def test_a_locked_down_reader_can_only_read(reader, statement, pipeline_db, generated_data):
    from kam_pipeline.warehouse.database import work_path_for

    statement = statement.format(
        work=work_path_for(pipeline_db), parquet=pipeline_db.with_name("kam.parquet"), data=generated_data
    )
    with pytest.raises(duckdb.Error):
        reader.execute(statement)
    # Every published relation reads, through the views over the admitted folder.
    for schema, name in reader.execute(
        "select schema_name, view_name from duckdb_views() where not internal and schema_name <> 'publish'"
    ).fetchall():
        reader.execute(f"select count(*) from {schema}.{name}").fetchone()
    assert reader.execute("select count(*) from marts.account_scores").fetchone()[0] > 0
    assert reader.execute("select count(*) from raw.ingest_log").fetchone()[0] > 0


# ---------------------------------------------------------------------------------------------
# SQLAlchemy + duckdb-engine (the driver Superset uses)


@pytest.fixture()
def engine(pipeline_db):
    import sqlalchemy as sa

    engine = sa.create_engine(f"duckdb:///{pipeline_db}", connect_args={"read_only": True})
    sa.event.listen(engine, "connect", lambda dbapi_connection, _record: lock_down(dbapi_connection, pipeline_db))
    yield engine
    engine.dispose()


def test_sqlalchemy_reads_every_mart_read_only(engine, pipeline_db):
    import sqlalchemy as sa

    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        expected = {
            t: conn.execute(f"select count(*) from marts.{t}").fetchone()[0]
            for t in [
                r[0]
                for r in conn.execute("select view_name from duckdb_views() where schema_name = 'marts'").fetchall()
            ]
        }
    assert len(expected) >= 14
    with engine.connect() as conn:
        # The published marts are views (over the Parquet files); BI tools list them with the tables.
        assert set(sa.inspect(conn).get_view_names(schema="marts")) == set(expected)
        for table, rows in expected.items():
            assert conn.execute(sa.text(f"select count(*) from marts.{table}")).scalar() == rows
        # Bound parameters, the way BI tools filter.
        scores = (
            conn.execute(
                sa.text("select score from marts.account_scores where as_of_date = :d and score is not null"),
                {"d": AS_OF},
            )
            .scalars()
            .all()
        )
        assert scores and all(0 <= s <= 100 for s in scores)
        # What a BI tool shows next to a column: its comment.
        comment = conn.execute(
            sa.text(
                "select comment from duckdb_columns() where schema_name = 'marts' "
                "and table_name = 'account_scores' and column_name = 'completeness'"
            )
        ).scalar()
        assert "0-1" in comment
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("drop table marts.account_scores"))


def test_sqlalchemy_core_queries_compile_for_duckdb(engine):
    import sqlalchemy as sa

    scores = sa.table(
        "account_scores", sa.column("as_of_date"), sa.column("segment"), sa.column("score"), schema="marts"
    )
    query = (
        sa.select(scores.c.segment, sa.func.avg(scores.c.score).label("avg_score"))
        .where(scores.c.as_of_date == AS_OF)
        .group_by(scores.c.segment)
        .order_by(scores.c.segment)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    assert rows and all(0 <= avg <= 100 for _, avg in rows if avg is not None)


def test_sqlalchemy_column_reflection(engine):
    # SQLAlchemy is held below 2.1 in the dev extra: duckdb-engine 0.17's reflection under 2.1
    # queries pg_catalog.pg_collation, which DuckDB 2.0 lacks (Superset itself pins 1.4).
    import sqlalchemy as sa

    with engine.connect() as conn:
        columns = sa.inspect(conn).get_columns("account_scores", schema="marts")
    assert {c["name"] for c in columns} >= {"account_id", "score"}


# ---------------------------------------------------------------------------------------------
# DuckDB CLI


def _cli_version(cli: str) -> tuple[int, ...]:
    out = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"v(\d+)\.(\d+)", out)
    return tuple(int(x) for x in match.groups()) if match else (0,)


def test_the_duckdb_cli_opens_the_published_file_read_only(pipeline_db):
    # The dev extra installs PyPI's duckdb-cli (1.5) next to this interpreter; the pipeline
    # writes the v1.5 storage format so that shell, and BI drivers embedding 1.5, can read it.
    cli = str(Path(sys.executable).with_name("duckdb"))
    assert _cli_version(cli) >= (1, 5)
    out = subprocess.run(
        [
            cli,
            "-readonly",
            "-csv",
            str(pipeline_db),
            "-c",
            f"set allowed_directories = ['{pipeline_db.with_name('kam.parquet').as_posix()}/']; "
            "set enable_external_access = false; select count(*) from marts.account_scores",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 0


# ---------------------------------------------------------------------------------------------
# Data dictionary and Parquet export


def test_every_marts_column_is_documented(pipeline_db):
    assert undocumented_columns(pipeline_db) == []


def test_the_committed_data_dictionary_matches_the_code(pipeline_db, tmp_path):
    out = tmp_path / "data_dictionary.md"
    assert main(["docs", "--db", str(pipeline_db), "--out", str(out)]) == 0
    committed = (REPO / "docs" / "data_dictionary.md").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, (
        "docs/data_dictionary.md is out of date: run `.venv/bin/kam docs --fresh` and commit it"
    )


def test_the_data_dictionary_lists_every_table_and_column(pipeline_db):
    text = data_dictionary(pipeline_db)
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        columns = conn.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'marts'"
        ).fetchall()
    for table, column in columns:
        assert f"## marts.{table}\n" in text
        assert f"| `{column}` |" in text
    assert "| `score` | DOUBLE | Weighted score 0-100 |" in text


def test_kam_docs_names_a_missing_database(tmp_path, capsys):
    assert main(["docs", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "d.md")]) == 1
    assert "database not found" in capsys.readouterr().err


def test_kam_export_writes_one_parquet_file_per_table_and_snapshot(pipeline_db, tmp_path):
    out = tmp_path / "exports"
    assert main(["export", "--db", str(pipeline_db), "--out", str(out)]) == 0
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        snapshots = conn.execute("select distinct as_of_date from marts.account_scores order by 1").fetchall()
        assert len(snapshots) == 2
        tables = [
            r[0] for r in conn.execute("select view_name from duckdb_views() where schema_name = 'marts'").fetchall()
        ]
        assert len(tables) >= 14
        for table in tables:
            dates = [r[0] for r in conn.execute(f"select distinct as_of_date from marts.{table}").fetchall()]
            for date in dates:
                assert (out / table / f"as_of_date={date}" / "data.parquet").is_file()
            pattern = (out / table / "*" / "data.parquet").as_posix()
            exported = (
                conn.execute(
                    "select as_of_date, count(*) from read_parquet(?, hive_partitioning = true) group by 1 order by 1",
                    [pattern],
                ).fetchall()
                if dates
                else []
            )
            stored = conn.execute(f"select as_of_date, count(*) from marts.{table} group by 1 order by 1").fetchall()
            assert [(str(d), n) for d, n in exported] == [(str(d), n) for d, n in stored], table
    assert not list(out.rglob("*.tmp"))


def test_kam_export_of_one_snapshot_keeps_values_and_types(pipeline_db, tmp_path):
    out = tmp_path / "exports"
    assert main(["export", "--db", str(pipeline_db), "--out", str(out), "--as-of", AS_OF.isoformat()]) == 0
    assert [p.name for p in (out / "account_scores").iterdir()] == [f"as_of_date={AS_OF}"]
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        original = conn.execute(
            "select * exclude (as_of_date) from marts.account_scores where as_of_date = ? order by account_id", [AS_OF]
        ).fetchall()
        exported = conn.execute(
            "select * from read_parquet(?, hive_partitioning = false) order by account_id",
            [(out / "account_scores" / f"as_of_date={AS_OF}" / "data.parquet").as_posix()],
        ).fetchall()
    assert exported == original
    # Exporting again replaces the file with the same content.
    first = (out / "account_scores" / f"as_of_date={AS_OF}" / "data.parquet").read_bytes()
    assert main(["export", "--db", str(pipeline_db), "--out", str(out), "--as-of", AS_OF.isoformat()]) == 0
    assert (out / "account_scores" / f"as_of_date={AS_OF}" / "data.parquet").read_bytes() == first


def test_kam_export_of_a_missing_snapshot_fails_with_one_line(pipeline_db, tmp_path, capsys):
    assert main(["export", "--db", str(pipeline_db), "--out", str(tmp_path), "--as-of", "1999-01-01"]) == 1
    assert "no snapshot for 1999-01-01" in capsys.readouterr().err


def test_the_parquet_export_asset_writes_its_partition(pipeline_db, tmp_path, monkeypatch):
    import dagster as dg

    from kam_pipeline.defs.assets.export import parquet_export
    from kam_pipeline.defs.resources import KamResource

    monkeypatch.setenv("KAM_PARQUET_DIR", str(tmp_path / "parquet"))
    kam = KamResource(data_dir=str(tmp_path), db_path=str(pipeline_db))
    result = dg.materialize([parquet_export], partition_key=AS_OF.isoformat(), resources={"kam": kam})
    assert result.success
    assert [p.name for p in (tmp_path / "parquet" / "account_scores").iterdir()] == [f"as_of_date={AS_OF}"]
    [materialization] = result.asset_materializations_for_node("parquet_export")
    assert materialization.metadata["files"].value >= 10


@pytest.mark.parametrize("configured", [True, False])
def test_the_parquet_export_is_in_the_daily_job_only_when_configured(configured, tmp_path):
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k != "KAM_PARQUET_DIR"}
    if configured:
        env["KAM_PARQUET_DIR"] = str(tmp_path)
    code = (
        "from kam_pipeline.definitions import defs; "
        "print('parquet_export' in {k.to_user_string() for k in defs.resolve_job_def('kam_daily').asset_layer"
        ".executable_asset_keys})"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(configured)
