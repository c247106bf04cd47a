"""The `kam` command: generate data, run the pipeline, run the demo.

Every failure a user can cause (bad flags, a broken model, a missing folder, a
failed asset) ends with one line `kam: error: <reason>` and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

from kam_pipeline.ingest.mapping import MappingError, load_for
from kam_pipeline.scoring.model import ModelError, load_model
from kam_pipeline.settings import DEFAULT_DB_PATH, Settings


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


def _parser() -> argparse.ArgumentParser:
    env = Settings.from_env()
    parser = argparse.ArgumentParser(prog="kam", description="Key-account performance evaluation pipeline.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialize every asset for one as-of date")
    run.add_argument("--data", type=Path, default=env.data_dir, help="input folder (KAM_DATA_DIR)")
    run.add_argument("--db", type=Path, default=env.db_path, help="published DuckDB file (KAM_DB_PATH)")
    run.add_argument("--as-of", type=_date, default=None, help="as-of date D (default: today)")
    run.add_argument("--from", dest="date_from", type=_date, default=None,
                     help="backfill: first as-of date of a range scored in one run (with --to)")
    run.add_argument("--to", dest="date_to", type=_date, default=None, help="backfill: last as-of date (with --from)")
    run.add_argument("--timings", type=Path, default=None, help="write the seconds of every step to this JSON file")
    run.add_argument("--model", type=Path, default=env.model_path, help="scoring model YAML (KAM_MODEL)")
    run.add_argument("--sources", type=Path, default=env.sources_path,
                     help="mapping of your own column names and values to the input contract (KAM_SOURCES; "
                          "default: sources.yaml in the data folder, if there is one)")
    run.add_argument("--quiet", action="store_true", help="print only errors")

    gen = sub.add_parser("generate", help="write a deterministic synthetic data set")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--accounts", type=_positive, default=60)
    gen.add_argument("--days", type=_positive, default=730)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--end", type=_date, default=None, help="last date with data (default: yesterday)")

    demo = sub.add_parser("demo", help="generate the sample data set and run the pipeline on it")
    demo.add_argument("--out", type=Path, default=Path("data/demo"))
    demo.add_argument("--db", type=Path, default=Path(DEFAULT_DB_PATH))
    demo.add_argument("--accounts", type=_positive, default=60)

    report = sub.add_parser("report", help="write the evaluation report of a snapshot as one self-contained HTML file")
    report.add_argument("--db", type=Path, default=env.db_path, help="published DuckDB file (KAM_DB_PATH)")
    report.add_argument("--out", type=Path, default=None,
                        help="HTML file (default: <db dir>/reports/kam_report_<as-of>_<lang>.html)")
    report.add_argument("--as-of", type=_date, default=None, help="snapshot date (default: the latest stored)")
    report.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the report")
    report.add_argument("--model", type=Path, default=env.model_path,
                        help="scoring model YAML: labels, targets and alert rules (KAM_MODEL)")

    docs = sub.add_parser("docs", help="write the Markdown data dictionary of the marts from a published database")
    docs.add_argument("--db", type=Path, default=env.db_path, help="published DuckDB file (KAM_DB_PATH)")
    docs.add_argument("--out", type=Path, default=Path("docs/data_dictionary.md"))
    docs.add_argument("--fresh", action="store_true", help="document a fresh run on generated data instead of --db")

    export = sub.add_parser("export", help="write the marts as Parquet: <out>/<table>/as_of_date=<D>/data.parquet")
    export.add_argument("--db", type=Path, default=env.db_path, help="published DuckDB file (KAM_DB_PATH)")
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument("--as-of", type=_date, default=None, help="only this snapshot (default: every snapshot)")

    check = sub.add_parser("check-model", help="validate a scoring model file without touching data")
    check.add_argument("model", type=Path, nargs="?", default=None)
    return parser


def run_pipeline(
    data: Path, db: Path, as_of: dt.date, model: Path | None, until: dt.date | None = None,
    timings: Path | None = None, sources: Path | None = None,
) -> None:
    """Materialize every asset and check for `as_of` (or the range as_of..until) through the Dagster
    definitions; raise CliError on failure (ModelError, MappingError for a broken model or mapping)."""
    load_model(model)  # a broken model fails here, before any data is touched
    if not data.is_dir():
        raise CliError(f"data folder not found: {data}")
    load_for(data, sources)  # and a broken sources.yaml too
    from kam_pipeline.partitions import as_of_partitions

    first, last = as_of_partitions.get_first_partition_key(), as_of_partitions.get_last_partition_key()
    for date in (as_of, until or as_of):
        if not first <= date.isoformat() <= last:
            raise CliError(f"as-of date {date} is outside {first} .. {last} (today; KAM_PARTITION_START sets the start)")
    if until is not None and until < as_of:
        raise CliError(f"--to {until} is before --from {as_of}")
    import dagster as dg

    from kam_pipeline.definitions import all_assets
    from kam_pipeline.resources import build_resources

    resources = build_resources(Settings(data_dir=data, db_path=db, model_path=model, sources_path=sources))
    instance = dg.DagsterInstance.get() if _has_dagster_home() else dg.DagsterInstance.ephemeral()
    # A range runs as one Dagster run: every partitioned asset has a single-run backfill policy.
    partition = {"partition_key": as_of.isoformat()} if until is None else {
        "tags": {
            "dagster/asset_partition_range_start": as_of.isoformat(),
            "dagster/asset_partition_range_end": until.isoformat(),
        }
    }
    result = dg.materialize(
        all_assets,
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
    import os

    return bool(os.environ.get("DAGSTER_HOME"))


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
            error = event.step_failure_data.error
            message = error.message if error else "step failed"
            # Dagster wraps the asset's exception; the innermost cause is what the user needs.
            while error is not None and error.cause is not None:
                error = error.cause
                message = error.message
            step = event.step_key or "pipeline"
            return f"{step}: {message.strip().splitlines()[-1] if message.strip() else 'failed'}"
    for event in result.all_events:
        if event.is_failure and event.message:
            return event.message.strip().splitlines()[0]
    return "the run failed"


def _print_summary(db: Path, as_of: dt.date, elapsed: float) -> None:
    import duckdb

    from kam_pipeline.warehouse import scalar

    with duckdb.connect(str(db), read_only=True) as conn:
        log = conn.execute(
            "select source, file_name, status, rows_read, rows_quarantined, reason from raw.ingest_log order by source, file_name"
        ).fetchall()
        staged = {
            s: scalar(conn, f"select count(*) from staging.{s}")
            for s in sorted({row[0] for row in log})
        }
        quarantined = {
            s: scalar(conn, f"select count(*) from quarantine.{s}") for s in staged
        }
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
    if total:
        revenue, retention, nrr = total
        print(
            f"  portfolio: revenue {float(revenue or 0):,.0f}, logo retention "
            f"{_pct(retention)}, NRR {_pct(nrr)}"
        )
    print("  grades: " + ", ".join(f"{g} {n}" for g, n in grades))
    print("  top accounts:")
    for rank, aid, name, seg, score, grade, key in top:
        print(f"    {rank:>3}. {aid} {name} ({seg}) {score} {grade}{' key' if key else ''}")
    print(f"  tables: marts.account_scores, marts.score_contributions, ... in {db} (open it read-only)")
    reports = sorted((db.parent / "reports").glob(f"kam_report_{as_of}_*.html"))
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
    run_pipeline(args.data, args.db, as_of, args.model, until=args.date_to, timings=args.timings,
                 sources=args.sources)
    if not args.quiet:
        _print_summary(args.db, args.date_to or as_of, time.perf_counter() - started)


def _generate(args: argparse.Namespace) -> None:
    from kam_pipeline.generate import generate_dataset

    counts = generate_dataset(args.out, accounts=args.accounts, days=args.days, seed=args.seed, end=args.end)
    print(f"kam: wrote {sum(counts.values()):,} rows to {args.out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


def _demo(args: argparse.Namespace) -> None:
    from kam_pipeline.generate import generate_dataset

    as_of = dt.date.today()
    started = time.perf_counter()
    counts = generate_dataset(args.out, accounts=args.accounts, end=as_of - dt.timedelta(days=1))
    print(f"kam: generated {counts.get('orders', 0):,} order lines for {counts.get('accounts', 0)} accounts in {args.out}")
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

    from kam_pipeline.datadict import data_dictionary
    from kam_pipeline.generate import generate_dataset

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
    from kam_pipeline.export import export_marts

    if not args.db.is_file():
        raise CliError(f"database not found: {args.db}")
    written = export_marts(args.db, args.out, args.as_of)
    if not any(written.values()):
        raise CliError(f"no snapshot{f' for {args.as_of}' if args.as_of else ''} in {args.db}")
    print(f"kam: wrote {sum(written.values())} Parquet files for {len(written)} marts tables -> {args.out}")


def _check_model(args: argparse.Namespace) -> None:
    model = load_model(args.model)
    print(f"kam: {model.path}: valid ({len(model.indicators)} indicators in {len(model.groups)} groups, "
          f"profiles: {', '.join(p.name for p in model.profiles)})")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kam` console script; return the exit code."""
    # Dagster flags beta/preview APIs we use on purpose (single-run backfills, partitioned checks);
    # a user of the command line can do nothing about them, and they would break the one-line errors.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    args = _parser().parse_args(argv)
    handlers = {"run": _run, "generate": _generate, "demo": _demo, "check-model": _check_model, "report": _report,
                "docs": _docs, "export": _export}
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
        if os.environ.get("KAM_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"kam: error: internal error {type(exc).__name__}: {first} (KAM_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 70
    return 0


if __name__ == "__main__":
    sys.exit(main())
