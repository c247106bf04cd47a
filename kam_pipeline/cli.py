"""The `kam` command: generate data, run the pipeline, run the demo.

Every failure a user can cause (bad flags, a broken model, a missing folder, a
failed asset) ends with one line `kam: error: <reason>` and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import gc
import importlib.abc
import json
import os
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import NoReturn

from kam_pipeline.ingest.mapping import MappingError, check_engine, load_for
from kam_pipeline.scoring.model import ModelError, load_model
from kam_pipeline.settings import DEFAULT_DATA_DIR, DEFAULT_DB_PATH, Settings, env

# The earliest as-of date `kam run` accepts: anything before is a typo, not history.
EARLIEST_AS_OF = dt.date(1900, 1, 1)


class CliError(Exception):
    """A failure to report as one line."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples' line breaks and add every option's default unless its help names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _version() -> str:
    """`kam <version>` of the installed package."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"kam {version('kam_pipeline')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "kam (version unknown: the package is not installed)"


def _examples(*lines: str) -> str:
    return "example:\n" + "\n".join(f"  {line}" for line in lines)


def _command(sub, name: str, summary: str, description: str, *examples: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 79),
        epilog=_examples(*examples),
        formatter_class=_HelpFormatter,
    )


# Shared help texts: the file types every source may be delivered as, and the env-backed defaults.
_FORMATS = "csv, parquet, xlsx, xls"
_DATA_HELP = (
    f"input folder: one or more files per source ({_FORMATS}), e.g. orders.csv "
    f"(default: {DEFAULT_DATA_DIR}; KAM_DATA_DIR overrides)"
)
_DB_HELP = f"published DuckDB file (default: {DEFAULT_DB_PATH}; KAM_DB_PATH overrides)"
_MODEL_HELP = "scoring model YAML (default: the shipped kam_pipeline/models/default.yaml; KAM_MODEL overrides)"


def _parser() -> argparse.ArgumentParser:
    env = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="kam",
        formatter_class=_HelpFormatter,
        description=textwrap.fill(
            "Key-account performance evaluation pipeline: score accounts, managers and teams as of a date "
            "from delivered files into a DuckDB file. `kam COMMAND --help` describes each command.",
            79,
        ),
        epilog=_examples("kam demo", "kam run --data data/in --db data/kam.duckdb --as-of 2026-06-30"),
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _command(
        sub,
        "run",
        "materialize every asset for one as-of date",
        "Ingest the files of --data, compute indicators and scores as of D (dates YYYY-MM-DD, from 1900-01-01 "
        f"to today) and publish the snapshot into --db. Input files: {_FORMATS}, named <source>[_anything].<ext>.",
        "kam run --data data/in --db data/kam.duckdb --as-of 2026-06-30",
        "kam run --data data/in --from 2026-06-01 --to 2026-06-30   # backfill a range in one run",
    )
    run.add_argument("--data", metavar="DIR", type=Path, default=env.data_dir, help=_DATA_HELP)
    run.add_argument("--db", metavar="FILE", type=Path, default=env.db_path, help=_DB_HELP)
    run.add_argument("--as-of", type=_date, default=None, metavar="YYYY-MM-DD", help="as-of date D (default: today)")
    run.add_argument(
        "--from",
        dest="date_from",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="backfill: first as-of date of a range scored in one run (with --to)",
    )
    run.add_argument(
        "--to",
        dest="date_to",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="backfill: last as-of date (with --from)",
    )
    run.add_argument(
        "--timings", metavar="FILE", type=Path, default=None, help="write the seconds of every step to this JSON file"
    )
    run.add_argument("--model", metavar="FILE", type=Path, default=env.model_path, help=_MODEL_HELP)
    run.add_argument(
        "--sources",
        metavar="FILE",
        type=Path,
        default=env.sources_path,
        help="mapping of your own column names and values to the input contract (KAM_SOURCES; "
        "default: sources.yaml in the data folder, if there is one)",
    )
    run.add_argument(
        "--wait",
        metavar="SECONDS",
        type=float,
        default=None,
        help="how long to wait for another run on the same --db before failing; 0 fails at once "
        "(default: KAM_RUN_WAIT, else 600)",
    )
    run.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default=env.engine,
        help="where the per-account figures are computed: the embedded DuckDB, or Apache Spark "
        "(needs pip install -e '.[spark]' and Java; docs/spark.md) (KAM_ENGINE; default: duckdb)",
    )
    run.add_argument(
        "--spark-master",
        metavar="URL",
        default=env.spark_master,
        help="Spark engine: local[N], spark://host:port (a standalone cluster) or sc://host:port "
        "(Spark Connect) (KAM_SPARK_MASTER; default: local[2])",
    )
    run.add_argument("--quiet", action="store_true", help="print only errors (default: print a summary)")

    gen = _command(
        sub,
        "generate",
        "write a deterministic synthetic data set",
        "Write one CSV file per source into --out: the same flags give byte-identical files.",
        "kam generate --out data/sample --accounts 100 --days 365 --end 2026-06-29",
    )
    gen.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder (required)")
    gen.add_argument("--accounts", metavar="N", type=_positive, default=60, help="number of accounts")
    gen.add_argument("--days", metavar="N", type=_positive, default=730, help="days of history ending at --end")
    gen.add_argument("--seed", metavar="N", type=int, default=7, help="random seed")
    gen.add_argument(
        "--end", type=_date, default=None, metavar="YYYY-MM-DD", help="last date with data (default: yesterday)"
    )

    demo = _command(
        sub,
        "demo",
        "generate the sample data set and run the pipeline on it",
        "Generate a sample data set ending yesterday into --out and score it as of today into --db.",
        "kam demo --accounts 120",
    )
    demo.add_argument(
        "--out", metavar="DIR", type=Path, default=Path(DEFAULT_DATA_DIR), help="folder of the generated files"
    )
    demo.add_argument("--db", metavar="FILE", type=Path, default=Path(DEFAULT_DB_PATH), help="published DuckDB file")
    demo.add_argument("--accounts", metavar="N", type=_positive, default=60, help="number of accounts")

    report = _command(
        sub,
        "report",
        "write the evaluation report of a snapshot as one self-contained HTML file",
        "Write the evaluation report of one stored snapshot (dates YYYY-MM-DD) as one HTML file.",
        "kam report --db data/kam.duckdb --as-of 2026-06-30 --lang zh --out report.html",
    )
    report.add_argument("--db", metavar="FILE", type=Path, default=env.db_path, help=_DB_HELP)
    report.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=None,
        help="HTML file (default: <db dir>/reports/<db name>_report_<as-of>_<lang>.html)",
    )
    report.add_argument(
        "--as-of", type=_date, default=None, metavar="YYYY-MM-DD", help="snapshot date (default: the latest stored)"
    )
    report.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the report")
    report.add_argument(
        "--model",
        metavar="FILE",
        type=Path,
        default=env.model_path,
        help="scoring model YAML: labels, targets and alert rules (default: the shipped model; KAM_MODEL overrides)",
    )

    docs = _command(
        sub,
        "docs",
        "write the Markdown data dictionary of the marts from a published database",
        "Write the data dictionary of the marts tables from the column comments of a published database.",
        "kam docs --fresh --out docs/data_dictionary.md",
    )
    docs.add_argument("--db", metavar="FILE", type=Path, default=env.db_path, help=_DB_HELP)
    docs.add_argument("--out", metavar="FILE", type=Path, default=Path("docs/data_dictionary.md"), help="Markdown file")
    docs.add_argument(
        "--fresh",
        action="store_true",
        help="document a fresh run on generated data instead of --db (default: read --db)",
    )

    export = _command(
        sub,
        "export",
        "write the marts as Parquet: <out>/<table>/as_of_date=<D>/data.parquet",
        "Copy the snapshots of every marts table into a Parquet tree: <out>/<table>/as_of_date=<D>/data.parquet.",
        "kam export --db data/kam.duckdb --out exports/ --as-of 2026-06-30",
    )
    export.add_argument("--db", metavar="FILE", type=Path, default=env.db_path, help=_DB_HELP)
    export.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder (required)")
    export.add_argument(
        "--as-of", type=_date, default=None, metavar="YYYY-MM-DD", help="only this snapshot (default: every snapshot)"
    )

    cmp = _command(
        sub,
        "compare",
        "score a stored date with another model, writing nothing",
        "Score the stored snapshot of --as-of (default: the latest) with the scoring model --model and print, per "
        "profile, the Spearman rank correlation with the stored scores, the accounts whose grade changes and the "
        "biggest movers. The database is opened read-only: nothing is written.",
        "kam compare --db data/kam.duckdb --model my_model.yaml --as-of 2026-06-30",
    )
    cmp.add_argument("--db", metavar="FILE", type=Path, default=env.db_path, help=_DB_HELP)
    cmp.add_argument("--model", metavar="FILE", type=Path, required=True, help="the other scoring model YAML")
    cmp.add_argument(
        "--as-of", type=_date, default=None, metavar="YYYY-MM-DD", help="stored snapshot (default: the latest)"
    )

    backtest = _command(
        sub,
        "backtest",
        "print whether the stored scores predicted churn",
        "Print marts.score_backtest of a published database: for every stored snapshot D and horizon h of the "
        "model, the accounts not churned at D, those churned at the first snapshot on or after D + h, the AUC "
        "(0.5 = chance) and the churn rates of the lowest and highest score quintiles.",
        "kam backtest --db data/kam.duckdb",
    )
    backtest.add_argument("--db", metavar="FILE", type=Path, default=env.db_path, help=_DB_HELP)

    check = _command(
        sub,
        "check-model",
        "validate a scoring model file without touching data",
        "Validate a scoring model YAML: names every unknown indicator and every inconsistent AHP matrix.",
        "kam check-model my_model.yaml",
    )
    check.add_argument(
        "model",
        type=Path,
        nargs="?",
        default=None,
        help="scoring model YAML (default: the shipped kam_pipeline/models/default.yaml)",
    )
    return parser


def run_pipeline(
    data: Path,
    db: Path,
    as_of: dt.date,
    model: Path | None,
    until: dt.date | None = None,
    timings: Path | None = None,
    sources: Path | None = None,
    wait: float | None = None,
    engine: str = "duckdb",
    spark_master: str = "local[2]",
) -> None:
    """Materialize every asset and check for `as_of` (or the range as_of..until) through the Dagster
    definitions; raise CliError on failure (ModelError, MappingError for a broken model or mapping).

    One run at a time per database: another run on `db` is waited for up to `wait` seconds
    (default KAM_RUN_WAIT, else 600), with a line on stderr naming it. `engine` "spark" computes the
    per-account figures on Spark at `spark_master` (docs/spark.md)."""
    load_model(model)  # a broken model fails here, before any data is touched
    _check_engine(engine, spark_master)
    if not data.is_dir():
        raise CliError(f"data folder not found: {data}")
    # and a broken sources.yaml too, or one naming an input the engine cannot read
    check_engine(load_for(data, sources), engine)
    for date in (as_of, until or as_of):
        _check_as_of(date)
    if until is not None and until < as_of:
        raise CliError(f"--to {until} is before --from {as_of}")
    from kam_pipeline.warehouse.runlock import RunLocked, run_lock

    try:
        with run_lock(db, wait, lambda line: print(f"kam: {line}", file=sys.stderr, flush=True)):
            _materialize(data, db, as_of, model, until, timings, sources, engine, spark_master)
    except RunLocked as exc:
        raise CliError(str(exc)) from None


def _materialize(
    data: Path,
    db: Path,
    as_of: dt.date,
    model: Path | None,
    until: dt.date | None,
    timings: Path | None,
    sources: Path | None,
    engine: str = "duckdb",
    spark_master: str = "local[2]",
) -> None:
    """Run the Dagster definitions for `as_of` (or the range as_of..until); raise CliError on failure."""
    import dagster as dg

    from kam_pipeline.definitions import all_assets
    from kam_pipeline.defs.partitions import as_of_partitions, daily_partitions, with_partitions
    from kam_pipeline.defs.resources import build_resources

    # The partitions start where this run needs them, whatever the UI's list starts at
    # (KAM_PARTITION_START). One day past today in UTC: the user's local today may be ahead of it.
    start = min(as_of, dt.date.fromisoformat(as_of_partitions.get_first_partition_key()))
    assets = with_partitions(all_assets, daily_partitions(start, end_offset=2))

    resources = build_resources(
        Settings(
            data_dir=data,
            db_path=db,
            model_path=model,
            sources_path=sources,
            engine=engine,
            spark_master=spark_master,
        )
    )
    instance = _instance()
    # A range runs as one Dagster run: every partitioned asset has a single-run backfill policy.
    partition = (
        {"partition_key": as_of.isoformat()}
        if until is None
        else {
            "tags": {
                "dagster/asset_partition_range_start": as_of.isoformat(),
                "dagster/asset_partition_range_end": until.isoformat(),
            }
        }
    )
    _resume_collector(after_imports=True)  # the run's definitions, its instance and their imports are in: see console()
    result = dg.materialize(
        assets,
        **partition,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        # Failures are reported as one line below and warnings (unreadable files) in the
        # summary; Dagster's own console log would add stack traces.
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    if timings is not None:
        timings.write_text(json.dumps(_step_seconds(instance, result.run_id), indent=1), encoding="utf-8")
    published = any(e.is_step_success and e.step_key == "published_snapshot" for e in result.all_events)
    # A failed blocking check skips the publish without failing the run: still a failure for the user.
    if not result.success or not published:
        raise CliError(_failure_reason(result))


def _check_engine(engine: str, spark_master: str) -> None:
    """Raise CliError for an unknown engine or Spark master, or a Spark engine without pyspark: before any data is read."""
    if engine not in ("duckdb", "spark"):
        raise CliError(f"unknown engine {engine!r} (KAM_ENGINE): duckdb or spark")
    if engine != "spark":
        return
    from kam_pipeline.engines.spark import check_master

    try:
        check_master(spark_master)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        raise CliError(
            "the Spark engine needs pyspark: pip install -e '.[spark]' (and Java 17 or newer, "
            "e.g. Debian's openjdk-17-jre-headless)"
        )


def _check_as_of(date: dt.date) -> None:
    """Raise CliError for an as-of date no data set can have: after today, or before 1900."""
    today = dt.date.today()
    if date > today:
        raise CliError(
            f"as-of date {date} is in the future (today is {today}): "
            "a snapshot scores what was delivered before its date"
        )
    if date < EARLIEST_AS_OF:
        raise CliError(f"as-of date {date} is before {EARLIEST_AS_OF}: not a date this pipeline scores")


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds from start to end of every step of a run, from the instance's event log."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            seconds[event.step_key] = round(record.timestamp - started[event.step_key], 3)
    return seconds


def _has_dagster_home() -> bool:
    return bool(os.environ.get("DAGSTER_HOME"))


def _instance():
    """The Dagster instance of DAGSTER_HOME when it is set (the run shows in the UI), else a throwaway one."""
    import dagster as dg

    if not _has_dagster_home():
        from kam_pipeline.defs.instance import throwaway_instance

        return throwaway_instance()
    try:
        return dg.DagsterInstance.get()
    except dg.DagsterInvariantViolationError as exc:  # not a folder, or not an absolute path
        raise CliError(str(exc).split(". ")[0]) from None


def _failure_reason(result) -> str:
    for event in result.all_events:
        evaluation = event.event_specific_data if event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        if evaluation is not None and not evaluation.passed and evaluation.severity.value == "ERROR":
            details = ", ".join(
                f"{k}={v.value}" for k, v in evaluation.metadata.items() if k in ("failures", "rows_checked")
            )
            return (
                f"blocking check '{evaluation.check_name}' on {evaluation.asset_key.to_user_string()} "
                f"failed ({details}); downstream assets were not built"
            )
    for event in result.all_events:
        if event.is_step_failure:
            from kam_pipeline.defs.sensors import error_text

            error = event.step_failure_data.error
            # The innermost cause, and a dagster.Failure's reason without its class name.
            return f"{event.step_key or 'pipeline'}: {error_text(error) if error else 'step failed'}"
    for event in result.all_events:
        if event.is_failure and event.message:
            return event.message.strip().splitlines()[0]
    return "the run failed"


def _print_summary(db: Path, as_of: dt.date, elapsed: float) -> None:
    from kam_pipeline.ingest.load import NO_SOURCE
    from kam_pipeline.warehouse.database import read_only, scalar

    with read_only(db) as conn:
        log = conn.execute(
            "select source, file_name, status, rows_read, rows_quarantined, reason from raw.ingest_log order by source, file_name"
        ).fetchall()
        staged = {
            s: scalar(conn, f"select count(*) from staging.{s}")
            for s in sorted({row[0] for row in log if row[2] != "ignored"})
        }
        quarantined = {s: scalar(conn, f"select count(*) from quarantine.{s}") for s in staged}
        top = conn.execute(
            "select rank, account_id, account_name, segment, round(score, 1), grade, is_key_account "
            "from marts.account_scores where as_of_date = ? and score is not null order by rank limit 5",
            [as_of],
        ).fetchall()
        grades = conn.execute(
            "select grade, count(*) from marts.account_scores where as_of_date = ? group by grade order by grade",
            [as_of],
        ).fetchall()
        total = conn.execute(
            "select revenue, logo_retention, nrr from marts.portfolio_kpis where as_of_date = ? and segment = 'all'",
            [as_of],
        ).fetchall()
        total = total[0] if total else None
    print(f"kam: scored as of {as_of} in {elapsed:.1f} s -> {db}")
    print("  input:  " + ", ".join(f"{s} {staged[s]} staged/{quarantined[s]} quarantined" for s in staged))
    for source, name, status, *_rest, reason in log:
        if status == "failed":
            print(f"  unreadable file: {name} ({source}): {reason}")
    for source, name, status, *_rest, reason in log:
        if status == "ignored":
            owner = "" if source == NO_SOURCE else f" ({source})"
            print(f"  ignored file: {name}{owner}: {reason}")
    if total:
        revenue, retention, nrr = total
        print(f"  portfolio: revenue {float(revenue or 0):,.0f}, logo retention {_pct(retention)}, NRR {_pct(nrr)}")
    print("  grades: " + ", ".join(f"{g} {n}" for g, n in grades))
    print("  top accounts:")
    for rank, aid, name, seg, score, grade, key in top:
        print(f"    {rank:>3}. {aid} {name} ({seg}) {score} {grade}{' key' if key else ''}")
    print(f"  tables: marts.account_scores, marts.score_contributions, ... in {db} (open it read-only)")
    from kam_pipeline.report import LANGS, default_report_path

    reports = [path for lang in LANGS if (path := default_report_path(db, as_of, lang)).is_file()]
    if reports:
        print("  report: " + ", ".join(str(r) for r in reports))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _run(args: argparse.Namespace) -> None:
    if (args.date_from is None) != (args.date_to is None):
        raise CliError("--from and --to go together")
    if args.date_from is not None and args.as_of is not None:
        raise CliError("give either --as-of or --from/--to")
    as_of = args.date_from or args.as_of or dt.date.today()
    started = time.perf_counter()
    run_pipeline(
        args.data,
        args.db,
        as_of,
        args.model,
        until=args.date_to,
        timings=args.timings,
        sources=args.sources,
        wait=args.wait,
        engine=args.engine,
        spark_master=args.spark_master,
    )
    if not args.quiet:
        _print_summary(args.db, args.date_to or as_of, time.perf_counter() - started)


def _generate(args: argparse.Namespace) -> None:
    from kam_pipeline.demo.generate import generate_dataset

    counts = generate_dataset(args.out, accounts=args.accounts, days=args.days, seed=args.seed, end=args.end)
    print(
        f"kam: wrote {sum(counts.values()):,} rows to {args.out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )


def _demo(args: argparse.Namespace) -> None:
    from kam_pipeline.demo.generate import generate_dataset

    as_of = dt.date.today()
    started = time.perf_counter()
    counts = generate_dataset(args.out, accounts=args.accounts, end=as_of - dt.timedelta(days=1))
    print(
        f"kam: generated {counts.get('orders', 0):,} order lines for {counts.get('accounts', 0)} accounts in {args.out}"
    )
    run_pipeline(args.out, args.db, as_of, None)
    _print_summary(args.db, as_of, time.perf_counter() - started)


def _report(args: argparse.Namespace) -> None:
    from kam_pipeline.report import ReportError, build_report

    try:
        result = build_report(args.db, args.out, args.as_of, args.lang, args.model)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    print(f"kam: report of the {result.as_of} snapshot ({result.lang}) -> {result.path}")


def _docs(args: argparse.Namespace) -> None:
    import tempfile

    from kam_pipeline.demo.generate import generate_dataset
    from kam_pipeline.warehouse.datadict import data_dictionary

    with tempfile.TemporaryDirectory(prefix="kam_docs_") as tmp:
        db = args.db
        if args.fresh:
            # The schema does not depend on the data: any small generated set documents it.
            as_of, db = dt.date(2026, 7, 1), Path(tmp) / "kam.duckdb"
            generate_dataset(Path(tmp) / "data", accounts=24, days=800, seed=11, end=as_of - dt.timedelta(days=1))
            run_pipeline(Path(tmp) / "data", db, as_of, None)
        if not db.is_file():
            raise CliError(f"database not found: {db} (run `kam run` first, or use --fresh)")
        try:
            text = data_dictionary(db)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"kam: data dictionary of {text.count(chr(10) + '## ')} marts tables -> {args.out}")


def _export(args: argparse.Namespace) -> None:
    from kam_pipeline.warehouse.parquet_export import export_marts

    if not args.db.is_file():
        raise CliError(f"database not found: {args.db}")
    written = export_marts(args.db, args.out, args.as_of)
    if not any(written.values()):
        raise CliError(f"no snapshot{f' for {args.as_of}' if args.as_of else ''} in {args.db}")
    print(f"kam: wrote {sum(written.values())} Parquet files for {len(written)} marts tables -> {args.out}")


def _backtest(args: argparse.Namespace) -> None:
    from kam_pipeline.warehouse.database import read_only

    if not args.db.is_file():
        raise CliError(f"database not found: {args.db}")
    with read_only(args.db) as conn:
        known = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' "
            "and table_name = 'score_backtest'"
        ).fetchall()[0][0]
        if not known:
            raise CliError(f"{args.db} has no marts.score_backtest: run `kam run` first")
        rows = conn.execute(
            "select as_of_date, horizon_days, followed_as_of_date, accounts, churned_accounts, auc, "
            "bottom_quintile_churn_rate, top_quintile_churn_rate from marts.score_backtest order by 1, 2"
        ).fetchall()
    if not rows:
        print("kam: no stored snapshot has a later one a whole horizon after it yet: nothing to backtest")
        return
    print("as_of_date  horizon  followed    accounts  churned  auc    bottom_q  top_q")
    for d, h, f, n, c, auc, bottom, top in rows:
        print(
            f"{d}  {h:>7}  {f}  {n:>8}  {c:>7}  {_num(auc, '.3f'):>5}  {_num(bottom, '.1%'):>8}  {_num(top, '.1%'):>6}"
        )
    # Rows come oldest first: the last one per horizon is its latest figure.
    latest = {h: (d, auc) for d, h, _, _, _, auc, _, _ in rows}
    for h, (d, auc) in sorted(latest.items()):
        if auc is not None and auc <= 0.5:
            print(
                f"kam: the score did not predict churn: scores of {d} against {h} days later, AUC {auc:.3f} (0.5 = chance)"
            )


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _compare(args: argparse.Namespace) -> None:
    from kam_pipeline.scoring.compare import CompareError, compare, comparison_text

    model = load_model(args.model)  # a broken model fails before the database is opened
    try:
        result = compare(args.db, model, args.as_of)
    except CompareError as exc:
        raise CliError(str(exc)) from None
    print(comparison_text(result, str(args.model)))


def _check_model(args: argparse.Namespace) -> None:
    model = load_model(args.model)
    print(
        f"kam: {model.path}: valid ({len(model.indicators)} indicators in {len(model.groups)} groups, "
        f"profiles: {', '.join(p.name for p in model.profiles)})"
    )


def quiet_known_warnings() -> None:
    """Silence, for the whole process, the warnings a user of the command can do nothing about.

    Installed before any thread starts: a `warnings.catch_warnings` block restores the filters it
    saved when it ends, so a filter another thread adds meanwhile can be lost.
    """
    # Dagster flags beta/preview APIs we use on purpose (single-run backfills, partitioned checks);
    # they would break the one-line errors.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    # pyspark (the `spark` extra; great-expectations imports it too whenever it is installed) warns on
    # import that it does not fully support pandas 3 yet.
    warnings.filterwarnings("ignore", message=r"PySpark does not yet fully support pandas", category=FutureWarning)
    # requests (imported by great-expectations in its own thread) silences urllib3's DependencyWarning
    # and only then imports urllib3.contrib.socks; when pandera's catch_warnings block in the run's
    # thread ends in between, requests' filter is gone and the warning reached the terminal.
    warnings.filterwarnings("ignore", message=r"SOCKS support in urllib3 requires")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kam` console script; return the exit code."""
    quiet_known_warnings()
    args = _parser().parse_args(argv)
    if args.command not in ("run", "demo"):
        _resume_collector()  # only a run's start-up is worth pausing the collector for (see console())
    elif _own_process and getattr(args, "engine", "duckdb") == "duckdb":
        _hide_pyspark()
    handlers = {
        "run": _run,
        "generate": _generate,
        "demo": _demo,
        "check-model": _check_model,
        "report": _report,
        "docs": _docs,
        "export": _export,
        "compare": _compare,
        "backtest": _backtest,
    }
    try:
        handlers[args.command](args)
    except ModelError as exc:
        print(f"kam: error: invalid scoring model: {'; '.join(exc.problems)}", file=sys.stderr)
        return 2
    except MappingError as exc:
        print(f"kam: error: invalid sources mapping: {'; '.join(exc.problems)}", file=sys.stderr)
        return 2
    except (CliError, OSError) as exc:
        print(f"kam: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if env("KAM_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"kam: error: internal error {type(exc).__name__}: {first} (KAM_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70
    return 0


# True while console() keeps the garbage collector paused for a run's start-up.
_collector_paused = False
# True in a process console() runs (the `kam` command, the benchmarks): the process does this one command.
_own_process = False


class _NoPyspark(importlib.abc.MetaPathFinder):
    """An import of pyspark (or of a module of it) fails as when it is not installed."""

    def find_spec(self, name, path=None, target=None):  # noqa: D102 (importlib's hook)
        if name == "pyspark" or name.startswith("pyspark."):
            raise ModuleNotFoundError(
                f"No module named {name!r} (a kam run on the DuckDB engine does not use it)", name=name
            )
        return None


def _hide_pyspark() -> None:
    """In a `kam run` (or `kam demo`) process on the DuckDB engine: pyspark cannot be imported.

    pandera and great-expectations import pyspark whenever it is installed (the `spark` extra), to
    offer their Spark backends, which a DuckDB run never uses (it validates polars frames, DuckDB
    tables through Ibis and pandas frames): 0.2-0.7 s of the bare import on the test machine. Both
    treat a pyspark that does not import as one not installed. Only in a process of its own
    (console()): a process that runs other commands or the Spark engine later (tests, the Dagster
    UI) imports as usual.
    """
    if "pyspark" not in sys.modules and not any(isinstance(f, _NoPyspark) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPyspark())


def console(argv: list[str] | None = None) -> int:
    """The `kam` command in a process of its own (command() runs it; so do the benchmarks): main(),
    with Python's cyclic garbage collector paused through a run's start-up.

    The imports a run needs (Dagster, DuckDB, polars, pandera, great-expectations, matplotlib and
    the pipeline's modules) create some 500,000 objects that live as long as the process, and the
    collector ran a full collection over all of them each time their number had grown by a quarter:
    8 collections, 0.9 s at 5 accounts, for a few hundred objects of garbage. Right before Dagster
    runs (the run's definitions, resources and instance made), what exists is frozen (gc.freeze:
    left out of every later collection) and the collector resumes (_resume_collector); other
    commands resume it at once. Callers of main() in their own process (tests, scripts) keep their
    collector as it is.
    """
    global _collector_paused, _own_process
    _own_process = True
    if not gc.isenabled():  # the process keeps it off
        return main(argv)
    gc.disable()
    _collector_paused = True
    try:
        return main(argv)
    finally:
        _collector_paused = False
        gc.enable()


def _resume_collector(after_imports: bool = False) -> None:
    """Under console(): freeze every object there is and resume the garbage collector; else nothing.

    With `after_imports` (a run), the collector resumes once the imports the run starts in the
    background (KamResource's setup: great-expectations, the report's renderer) are done, from a
    thread that waits for them: with the collector running, each import had Python's collector
    run full collections over what it had imported so far (3 of the 4 full collections of a
    5-account run, 0.2-0.3 s), and once they are frozen too, the later full collections pass over
    the run's own objects only. The imports are not started here, earlier than the run starts
    them: great-expectations imports pyspark, whose logger setup swaps logging's logger class for
    a moment, and Dagster creating the run's loggers then failed (PySparkLogger got `level`).
    """
    global _collector_paused
    if not _collector_paused:
        return
    _collector_paused = False
    if not after_imports:
        gc.freeze()
        gc.enable()
        return
    from kam_pipeline.defs.resources import wait_for_background_imports

    def resume() -> None:
        wait_for_background_imports()
        gc.freeze()
        gc.enable()

    threading.Thread(target=resume, name="kam-resume-collector", daemon=True).start()


def command(argv: list[str] | None = None) -> NoReturn:
    """The `kam` console script and `python -m kam_pipeline.cli`: console(), then the process ends
    without its interpreter's teardown.

    The teardown frees the run's imports (some 500,000 objects) one by one and collects them again:
    0.3-0.5 s after a 5-account run, 0.7 s after a daily run at 10M order lines, for memory the
    system takes back at once. What an exit owes is done first, as CPython's own exit does it: the
    threads that are not daemons are joined, the atexit handlers run (logging's flush, the file
    locks, temporary directories, matplotlib's figures), stdout and stderr are flushed; then
    os._exit. A command that raises (SystemExit of --help or a usage error included) exits the
    normal way.
    """
    code = console(argv)
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # the handlers sys.exit would run, last registered first
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: CPython's exit status for it
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    command()
