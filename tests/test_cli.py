"""The `kam` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF
from kam_pipeline.scoring.model import default_model_path

pytestmark = pytest.mark.integration

KAM = [sys.executable, "-m", "kam_pipeline.cli"]
INCONSISTENT_6X6 = """
name: broken
groups:
  a: {indicators: {revenue: {}}}
  b: {indicators: {csat: {}}}
  c: {indicators: {nps: {}}}
  d: {indicators: {tenure_years: {}}}
  e: {indicators: {order_count: {}}}
  f: {indicators: {product_breadth: {}}}
profiles:
  default:
    group_weights:
      method: ahp
      matrix:
        - [1,   4,   3,   1,   3,   4]
        - [1/4, 1,   7,   3,   1/5, 1]
        - [1/3, 1/7, 1,   1/5, 1/5, 1/6]
        - [1,   1/3, 5,   1,   1,   1/3]
        - [1/3, 5,   5,   1,   1,   3]
        - [1/4, 1,   6,   3,   1/3, 1]
    indicator_weights:
      a: {method: fixed, weights: {revenue: 1}}
      b: {method: fixed, weights: {csat: 1}}
      c: {method: fixed, weights: {nps: 1}}
      d: {method: fixed, weights: {tenure_years: 1}}
      e: {method: fixed, weights: {order_count: 1}}
      f: {method: fixed, weights: {product_breadth: 1}}
"""


def kam(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*KAM, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_run_succeeds_and_prints_a_summary(generated_data, tmp_path):
    db = tmp_path / "out" / "kam.duckdb"
    proc = kam("run", "--data", str(generated_data), "--db", str(db), "--as-of", AS_OF.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert f"scored as of {AS_OF}" in proc.stdout
    assert "top accounts:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    with duckdb.connect(str(db), read_only=True) as conn:
        n = conn.execute("select count(*) from marts.account_scores where as_of_date = ?", [AS_OF]).fetchall()
    assert n[0][0] == 24
    reports = db.parent / "reports"
    ours = [reports / f"kam_report_{AS_OF}_{lang}.html" for lang in ("en", "zh")]
    assert f"report: {ours[0]}, {ours[1]}" in proc.stdout
    # A second database in the same folder (here a copy of the catalog) writes reports of its own name.
    before = {path: path.read_bytes() for path in ours}
    shutil.copy(db, db.with_name("other.duckdb"))
    proc = kam("report", "--db", str(db.with_name("other.duckdb")), "--lang", "zh")
    assert proc.returncode == 0, proc.stderr
    assert (reports / f"other_report_{AS_OF}_zh.html").stat().st_size > 0
    assert {path: path.read_bytes() for path in ours} == before


def test_environment_variables_give_the_same_settings(generated_data, tmp_path):
    db = tmp_path / "env.duckdb"
    proc = kam(
        "run",
        "--as-of",
        AS_OF.isoformat(),
        "--quiet",
        env={"KAM_DATA_DIR": str(generated_data), "KAM_DB_PATH": str(db)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert db.exists()


def test_inconsistent_ahp_model_fails_before_touching_data(generated_data, tmp_path):
    model = tmp_path / "broken.yaml"
    model.write_text(INCONSISTENT_6X6, encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    proc = kam(
        "run", "--data", str(generated_data), "--db", str(db), "--as-of", AS_OF.isoformat(), "--model", str(model)
    )
    assert proc.returncode != 0
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    assert str(model) in line
    assert "profiles.default.group_weights.matrix" in line
    assert "CR = 0.229" in line
    assert not db.exists() and not (tmp_path / "kam.work.duckdb").exists()


def test_unknown_lifecycle_stage_fails_before_touching_data(generated_data, tmp_path):
    shipped = default_model_path().read_text(encoding="utf-8")
    assert "    stages: [new]\n" in shipped
    model = tmp_path / "stages.yaml"
    model.write_text(shipped.replace("    stages: [new]\n", "    stages: [newcomer]\n"), encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    proc = kam(
        "run", "--data", str(generated_data), "--db", str(db), "--as-of", AS_OF.isoformat(), "--model", str(model)
    )
    assert proc.returncode != 0
    assert "profiles.new_accounts.stages: unknown lifecycle stage 'newcomer'" in proc.stderr
    assert not db.exists() and not (tmp_path / "kam.work.duckdb").exists()


def test_unknown_indicator_is_named(tmp_path):
    model = tmp_path / "typo.yaml"
    model.write_text(INCONSISTENT_6X6.replace("revenue", "revnue"), encoding="utf-8")
    proc = kam("check-model", str(model))
    assert proc.returncode != 0
    assert "groups.a.indicators.revnue: unknown indicator 'revnue'" in proc.stderr


def test_missing_data_folder_is_one_line(tmp_path):
    proc = kam("run", "--data", str(tmp_path / "nowhere"), "--db", str(tmp_path / "x.duckdb"))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"kam: error: data folder not found: {tmp_path / 'nowhere'}"]


def test_missing_required_source_is_one_line(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    for f in data.glob("orders*.csv"):
        f.unlink()
    proc = kam("run", "--data", str(data), "--db", str(tmp_path / "kam.duckdb"), "--as-of", AS_OF.isoformat())
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "required source 'orders' has no file" in lines[0], proc.stderr


def test_unreadable_file_is_named_and_the_rest_loads(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    (data / "surveys_broken.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    proc = kam("run", "--data", str(data), "--db", str(tmp_path / "kam.duckdb"), "--as-of", AS_OF.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert "unreadable file: surveys_broken.csv (surveys)" in proc.stdout
    with duckdb.connect(str(tmp_path / "kam.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from staging.surveys").fetchall()[0][0] > 0


def test_generate_is_deterministic(tmp_path):
    args = ["--accounts", "8", "--days", "200", "--seed", "5", "--end", "2026-03-31"]
    assert kam("generate", "--out", str(tmp_path / "a"), *args).returncode == 0
    assert kam("generate", "--out", str(tmp_path / "b"), *args).returncode == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "orders.csv" in files and "accounts.csv" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_flag_is_reported_without_traceback(tmp_path):
    proc = kam("run", "--as-of", "2026-02-30")
    assert proc.returncode == 2
    assert "not a date" in proc.stderr and "Traceback" not in proc.stderr


def test_a_backfill_range_scores_every_date_in_one_run(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    timings = tmp_path / "timings.json"
    first = AS_OF - dt.timedelta(days=2)
    proc = kam(
        "run",
        "--data",
        str(generated_data),
        "--db",
        str(db),
        "--from",
        first.isoformat(),
        "--to",
        AS_OF.isoformat(),
        "--quiet",
        "--timings",
        str(timings),
    )
    assert proc.returncode == 0, proc.stderr
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "select as_of_date, count(*), count(score_change) from marts.account_scores group by 1 order by 1"
        ).fetchall()
    assert [r[0] for r in rows] == [first + dt.timedelta(days=k) for k in range(3)]
    assert [r[1] for r in rows] == [24, 24, 24]
    assert rows[0][2] == 0 and rows[1][2] == 24  # each date's change is against the day before

    steps = json.loads(timings.read_text())
    assert "ingest_sources" in steps and "published_snapshot" in steps
    assert all(seconds >= 0 for seconds in steps.values())


def test_range_flags_are_checked(tmp_path):
    proc = kam("run", "--data", str(tmp_path), "--from", "2026-01-02")
    assert proc.returncode == 1 and proc.stderr.strip() == "kam: error: --from and --to go together"
    proc = kam("run", "--data", str(tmp_path), "--from", "2026-01-05", "--to", "2026-01-02")
    assert proc.returncode == 1 and "--to 2026-01-02 is before --from 2026-01-05" in proc.stderr


def _env_without(*names: str, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


def test_an_as_of_date_before_2000_scores_old_data(tmp_path):
    data, db = tmp_path / "data", tmp_path / "kam.duckdb"
    assert (
        kam("generate", "--out", str(data), "--end", "1998-12-30", "--days", "400", "--accounts", "12").returncode == 0
    )
    # No KAM_PARTITION_START: the run's partitions start where it needs them.
    proc = subprocess.run(
        [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", "1998-12-31"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env_without("KAM_PARTITION_START", "DAGSTER_HOME"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "scored as of 1998-12-31" in proc.stdout
    accounts = len((data / "accounts.csv").read_text(encoding="utf-8").strip().splitlines()) - 1
    with duckdb.connect(str(db), read_only=True) as conn:
        dates = conn.execute("select as_of_date, count(*) from marts.account_scores group by 1").fetchall()
    assert dates == [(dt.date(1998, 12, 31), accounts)]


def test_a_future_or_nonsense_as_of_date_is_refused_in_one_line(tmp_path):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    for args in (["--as-of", tomorrow.isoformat()], ["--from", "2026-01-01", "--to", tomorrow.isoformat()]):
        proc = kam("run", "--data", str(tmp_path), "--db", str(tmp_path / "kam.duckdb"), *args)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [
            f"kam: error: as-of date {tomorrow} is in the future (today is {dt.date.today()}): "
            "a snapshot scores what was delivered before its date"
        ]
    proc = kam("run", "--data", str(tmp_path), "--as-of", "1899-12-31")
    assert proc.returncode == 1 and "before 1900-01-01" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "kam.duckdb").exists()


def test_version_is_the_installed_package_version():
    from importlib.metadata import version

    proc = kam("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"kam {version('kam_pipeline')}\n"


def _subcommands() -> list[str]:
    import argparse

    from kam_pipeline.cli import _parser

    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


def test_every_subcommand_help_has_defaults_and_an_example():
    commands = _subcommands()
    assert {"run", "generate", "demo", "report", "docs", "export", "check-model"} <= set(commands)
    for command in commands:
        proc = kam(command, "--help")
        assert proc.returncode == 0, command
        text = proc.stdout
        assert "default" in text and "example:" in text, command
        assert f"kam {command} " in text.split("example:")[1], command  # the example runs this command
    run = kam("run", "--help").stdout
    for fact in (
        "YYYY-MM-DD",
        "csv, parquet, xlsx, xls",
        "default: data/demo",
        "KAM_DATA_DIR",
        "KAM_DB_PATH",
        "KAM_MODEL",
        "(default: today)",
    ):
        assert fact in " ".join(run.split()), fact
    # Defaults the formatter adds come from the parser itself.
    assert "(default: 730)" in " ".join(kam("generate", "--help").stdout.split())


def test_a_run_is_recorded_in_dagster_home(generated_data, tmp_path):
    import dagster as dg

    from kam_pipeline.definitions import defs

    home = tmp_path / "dagster_home"
    home.mkdir()
    # As `make demo` prepares .dagster_home.
    shutil.copy(Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml", home / "dagster.yaml")
    proc = kam(
        "run",
        "--data",
        str(generated_data),
        "--db",
        str(tmp_path / "kam.duckdb"),
        "--as-of",
        AS_OF.isoformat(),
        "--quiet",
        env={"DAGSTER_HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    specs = list(defs.resolve_all_asset_specs())
    assert {s.group_name for s in specs} >= {"staging", "marts", "publish"}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        for spec in specs:
            event = instance.get_latest_materialization_event(spec.key)
            assert event is not None and event.run_id == run.run_id, spec.key
            if spec.partitions_def is not None:
                assert AS_OF.isoformat() in instance.get_materialized_partitions(spec.key), spec.key
        # The scoring step's metadata (taken before its checks) describes the snapshot it wrote.
        scores = instance.get_latest_materialization_event(dg.AssetKey(["marts", "account_scores"]))
        contributions = instance.get_latest_materialization_event(dg.AssetKey(["marts", "score_contributions"]))
    with duckdb.connect(str(tmp_path / "kam.duckdb"), read_only=True) as conn:
        rows, keys, best = conn.execute(
            "select count(*), count(*) filter (where is_key_account), min(account_id) filter (where rank = 1) "
            "from marts.account_scores where as_of_date = ?",
            [AS_OF],
        ).fetchone()
        [(parts,)] = conn.execute(
            "select count(*) from marts.score_contributions where as_of_date = ?", [AS_OF]
        ).fetchall()
    metadata = scores.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == rows > 0
    assert metadata["key_accounts"].value == keys > 0
    assert best in metadata["top_accounts"].value
    assert contributions.asset_materialization.metadata["dagster/row_count"].value == parts > 0


def test_dagster_home_that_is_no_folder_is_one_line(generated_data, tmp_path):
    proc = kam(
        "run",
        "--data",
        str(generated_data),
        "--db",
        str(tmp_path / "kam.duckdb"),
        "--as-of",
        AS_OF.isoformat(),
        env={"DAGSTER_HOME": str(tmp_path / "nowhere")},
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f'kam: error: $DAGSTER_HOME "{tmp_path / "nowhere"}" is not a directory or does not exist'
    ]


def test_make_demo_and_make_ui_share_a_project_local_instance():
    from kam_pipeline.settings import DEFAULT_DATA_DIR, DEFAULT_DB_PATH

    repo = Path(__file__).resolve().parents[1]
    # Dry run (-n); the virtualenv stamp is taken as up to date (-o).
    proc = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "demo", "ui"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    home = f"DAGSTER_HOME={repo / '.dagster_home'}"
    [demo] = [line for line in lines if line.endswith("kam demo")]
    [ui] = [line for line in lines if line.endswith("/dagster dev -w workspace.yaml")]
    for line in (demo, ui):
        assert home in line.split()
        assert f"KAM_DATA_DIR={DEFAULT_DATA_DIR}" in line.split() and f"KAM_DB_PATH={DEFAULT_DB_PATH}" in line.split()
    if not (repo / ".dagster_home" / "dagster.yaml").exists():
        assert f"cp deploy/dagster.yaml {repo / '.dagster_home' / 'dagster.yaml'}" in lines
    assert ".dagster_home/" in (repo / ".gitignore").read_text(encoding="utf-8").splitlines()


# In a process of its own, as `kam` runs: for each full collection during the command, whether the
# run's definitions had been imported by then and whether a run's background imports (the checks'
# great-expectations, the report's renderer) were still going on; the objects frozen, and the
# collector's state after.
_COLLECTIONS = """
import gc, json, sys, threading
from kam_pipeline import cli
full = []
def record(phase, info):
    if phase == "start" and info["generation"] == 2:
        importing = any(t.name in ("kam-import-gx", "kam-import-report") and t.is_alive() for t in threading.enumerate())
        full.append(["kam_pipeline.definitions" in sys.modules, importing])
gc.callbacks.append(record)
code = getattr(cli, sys.argv[1])(["run", "--data", sys.argv[2], "--db", sys.argv[3], "--as-of", sys.argv[4], "--quiet"])
print(json.dumps({"code": code, "full": full, "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def _collections(entry: str, data: Path, db: Path) -> dict:
    args = [sys.executable, "-c", _COLLECTIONS, entry, str(data), str(db), AS_OF.isoformat()]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_kam_process_pauses_the_collector_through_the_start_up_of_a_run(generated_data, tmp_path):
    console = _collections("console", generated_data, tmp_path / "a" / "kam.duckdb")
    plain = _collections("main", generated_data, tmp_path / "b" / "kam.duckdb")
    assert console["code"] == plain["code"] == 0
    # Importing Dagster and the definitions ran full collections under main(), and none under
    # console(), which froze what had been imported and resumed the collector for the run.
    assert not all(defined for defined, _ in plain["full"])
    assert all(defined for defined, _ in console["full"]) and len(console["full"]) < len(plain["full"])
    assert console["frozen"] > 100_000 and plain["frozen"] == 0
    assert console["enabled"] and plain["enabled"]
    # The background imports ran full collections under main(); under console() the collector
    # resumed only once they were done.
    assert any(importing for _, importing in plain["full"])
    assert not any(importing for _, importing in console["full"])


# A run in a process of its own (console) or called in-process (main): which of pyspark, great-expectations
# and pandera's Ibis backend it imported.
_IMPORTED = """
import json, sys
from kam_pipeline import cli
code = getattr(cli, sys.argv[1])(["run", "--data", sys.argv[2], "--db", sys.argv[3], "--as-of", sys.argv[4], "--quiet"])
print(json.dumps({"code": code, **{m: m in sys.modules for m in ("pyspark", "great_expectations", "pandera.ibis")}}))
"""


def test_a_kam_run_on_duckdb_does_not_import_pyspark(generated_data, tmp_path):
    found = {}
    for entry in ("console", "main"):
        args = [sys.executable, "-c", _IMPORTED, entry, str(generated_data), str(tmp_path / entry / "kam.duckdb")]
        # Its small files validated inside DuckDB too, through pandera's Ibis backend (see KAM_CONTRACT_MEMORY_ROWS).
        env = {**os.environ, "KAM_CONTRACT_MEMORY_ROWS": "10"}
        done = subprocess.run([*args, AS_OF.isoformat()], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        found[entry] = json.loads(done.stdout.strip().splitlines()[-1])
    # Both runs validated with great-expectations and pandera; pandera and great-expectations import
    # pyspark (installed with the `spark` extra, as `make test` installs it) unless the run's own process hides it.
    assert found["console"] == {"code": 0, "pyspark": False, "great_expectations": True, "pandera.ibis": True}
    assert found["main"] == {"code": 0, "pyspark": True, "great_expectations": True, "pandera.ibis": True}


def test_a_command_that_fails_before_its_run_gives_the_collector_back(tmp_path):
    script = (
        "import gc, sys\nfrom kam_pipeline import cli\n"
        "code = cli.console(['run', '--data', sys.argv[1], '--db', sys.argv[2]])\n"
        "print(code, gc.isenabled())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "missing"), str(tmp_path / "kam.duckdb")],
        capture_output=True,
        text=True,
    )
    assert done.stdout.split() == ["1", "True"], done.stderr
    assert "data folder not found" in done.stderr


# A process that leaves through `entry`: an atexit handler and a thread that is no daemon mark
# their work with a file; the thread leaves an object in sys.modules whose freeing by the
# interpreter's teardown marks it too.
_LEAVING = """
import atexit, sys, threading, time
from pathlib import Path
from kam_pipeline import cli
out, entry, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
atexit.register(lambda: (out / "atexit").write_text("ran"))
class Freed:  # holds what it needs: the teardown clears the module's names in no fixed order
    def __init__(self, path):
        self.path, self.open = str(path), open
    def __del__(self):
        with self.open(self.path, "w") as mark:
            mark.write("freed")
def late():
    time.sleep(0.3)
    (out / "thread").write_text("done")
    sys.modules["_freed_at_teardown"] = Freed(out / "teardown")  # sys.modules is emptied then
threading.Thread(target=late).start()
if entry == "command":
    cli.command(args)
sys.exit(cli.console(args))
"""


def _leave(entry: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    out.mkdir()
    return subprocess.run([sys.executable, "-c", _LEAVING, str(out), entry, *args], capture_output=True, text=True)


def test_the_kam_command_ends_without_the_interpreters_teardown_but_does_what_an_exit_owes(tmp_path):
    done = _leave("command", tmp_path / "command", "check-model")
    assert done.returncode == 0, done.stderr
    assert "valid (" in done.stdout  # flushed into a pipe
    assert (tmp_path / "command" / "atexit").read_text() == "ran"
    assert (tmp_path / "command" / "thread").read_text() == "done"  # joined, not cut short
    assert not (tmp_path / "command" / "teardown").exists()
    # The same command through console() and sys.exit: the teardown frees the object.
    plain = _leave("console", tmp_path / "console", "check-model")
    assert plain.returncode == 0 and plain.stdout == done.stdout
    assert (tmp_path / "console" / "teardown").read_text() == "freed"


def test_the_kam_command_exits_with_the_commands_status(tmp_path):
    done = _leave("command", tmp_path / "out", "run", "--data", str(tmp_path / "missing"), "--db", str(tmp_path / "k"))
    assert done.returncode == 1
    assert done.stderr.strip() == f"kam: error: data folder not found: {tmp_path / 'missing'}"
    assert (tmp_path / "out" / "atexit").exists()


# requests silences urllib3's DependencyWarning, then imports urllib3.contrib.socks, which warns when
# PySocks is missing. great-expectations imports requests in a thread of its own; when a
# catch_warnings block in the run's thread (pandera's validation) ends between those two steps, it
# restores the filters it saved, without requests' one. This replays that order with real threads.
_SOCKS_RACE = """
import sys, threading, warnings
from urllib3.exceptions import DependencyWarning
from kam_pipeline import cli

if sys.argv[1] == "quiet":
    cli.quiet_known_warnings()
block_open, filtered, block_closed = threading.Event(), threading.Event(), threading.Event()

def run_thread():
    with warnings.catch_warnings():
        block_open.set()
        filtered.wait()
    block_closed.set()

def import_thread():
    block_open.wait()
    warnings.simplefilter("ignore", DependencyWarning)  # requests/__init__.py
    filtered.set()
    block_closed.wait()
    warnings.warn("SOCKS support in urllib3 requires the installation of optional dependencies: "
                  "specifically, PySocks.", DependencyWarning)  # urllib3/contrib/socks.py

threads = [threading.Thread(target=run_thread), threading.Thread(target=import_thread)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_urllib3s_socks_warning_stays_silent_when_a_warnings_block_ends_in_between():
    def replay(mode: str) -> str:
        done = subprocess.run([sys.executable, "-c", _SOCKS_RACE, mode], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "SOCKS support in urllib3 requires" in replay("plain")  # the replay does lose requests' filter
    assert replay("quiet") == ""
