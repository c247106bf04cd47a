"""Everything the report shows, read from the published DuckDB file (read-only) into polars frames.

Only marts, quarantine and the ingest log are read: the report never recomputes a score.
Tables that a database may lack (score_alerts, kpi_attainment before their marts existed)
come back as None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from kam_pipeline.scoring.model import ScoringModel, load_model
from kam_pipeline.warehouse.database import read_only
from kam_pipeline.warehouse.history import previous_snapshot, stored_snapshots

# The trend charts show the last TREND_SNAPSHOTS stored snapshots up to the as-of date (a
# quarter of daily runs), of the accounts they chart: the report reads that window, not the
# whole history, so its cost stays flat as snapshots accumulate.
TREND_SNAPSHOTS = 90
# Accounts per trend chart (the best ranked; the ones to watch).
TREND_ACCOUNTS = 5
# The breakdown chart shows every account of a small book, else the best and the worst ranked.
BREAKDOWN_TOP, BREAKDOWN_BOTTOM = 6, 6
# The account_indicators columns the report reads besides the findings' (findings.indicator_columns):
# the evaluation window, and the lifecycle's lists of new key and churned accounts (lifecycle.py).
REPORT_COLUMNS = (
    "account_id",
    "window_days",
    "lifecycle_stage",
    "account_name",
    "segment",
    "first_order_date",
    "last_order_date",
    "revenue",
    "revenue_prev",
)


class ReportError(Exception):
    """The report cannot be built from this database (no snapshot, unknown as-of date)."""


@dataclass
class ReportData:
    """One as-of snapshot and the history around it; money columns are Float64."""

    db_path: Path
    as_of: dt.date
    previous_as_of: dt.date | None
    snapshots: list[dt.date]
    scores: pl.DataFrame  # marts.account_scores at as_of
    # marts.account_indicators at as_of: load() reads every account's row, of the columns the report
    # reads (indicator_columns), not all 50.
    indicators: pl.DataFrame
    # marts.score_contributions at as_of: load() reads the rows of the accounts the report breaks
    # down (breakdown_accounts) and of its largest drops (findings.largest_drops), not the whole book.
    contributions: pl.DataFrame
    previous_contributions: pl.DataFrame  # ... of the largest drops, at previous_as_of (empty without one)
    history: pl.DataFrame  # account_id, as_of_date, score of the charted accounts over the trend window
    weights: pl.DataFrame  # marts.indicator_weights at as_of
    consistency: pl.DataFrame  # marts.weight_consistency at as_of
    managers: pl.DataFrame  # marts.manager_scores at as_of
    teams: pl.DataFrame  # marts.team_scores at as_of
    portfolio: pl.DataFrame  # marts.portfolio_kpis at as_of
    # marts.kpi_attainment at as_of, if the database has it (load(): the managers' and teams' rows, which
    # the league tables read, not the accounts').
    kpis: pl.DataFrame | None
    alerts: pl.DataFrame | None  # marts.score_alerts at as_of, if the database has it
    quarantine_by_source: pl.DataFrame  # source, rows
    quarantine_by_rule: pl.DataFrame  # source, column, rule, rows
    failed_files: pl.DataFrame  # source, file_name, status ('failed' or 'ignored'), reason: the files not read
    missing_indicators: pl.DataFrame  # indicator, accounts (without a value), share
    bridge: pl.DataFrame = field(default_factory=pl.DataFrame)  # marts.revenue_bridge at as_of (empty without it)
    method_comparison: pl.DataFrame | None = None  # marts.method_comparison at as_of, if the database has it
    method_agreement: pl.DataFrame | None = None  # marts.method_agreement at as_of, if the database has it
    # marts.score_changes at as_of, if the database has it (load(): the largest drops' rows).
    changes: pl.DataFrame | None = None
    # marts.account_obstacles at as_of, if the database has it (load(): the key accounts' largest obstacles).
    obstacles: pl.DataFrame | None = None
    backtest: pl.DataFrame | None = None  # per horizon, the latest marts.score_backtest row complete by as_of
    weight_stability: pl.DataFrame | None = None  # marts.weight_stability at as_of, if the database has it
    # Results derived from this data that do not depend on the language (the findings),
    # kept so that rendering the report in a second language does not repeat them.
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def window_days(self) -> int | None:
        """The evaluation window W of the snapshot, in days."""
        if "window_days" in self.indicators.columns and self.indicators.height:
            return int(self.indicators.get_column("window_days").max())
        return None


def _exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = conn.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return rows[0][0] > 0


def _frame(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    # DuckDB DECIMAL money arrives as polars Decimal: the report only formats it.
    frame = conn.sql(sql, params=params or []).pl()
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of `marts.<table>`, in order."""
    return [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = ? "
            "order by ordinal_position",
            [table],
        ).fetchall()
    ]


def _snapshot(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    as_of: dt.date | None,
    columns: Collection[str] | None = None,
    where: str = "true",
) -> pl.DataFrame:
    """The snapshot `as_of` of `marts.<table>` (its rows matching `where`), of the `columns` it has
    (default: all); no frame without the snapshot or the table."""
    if as_of is None or not _exists(conn, "marts", table):
        return pl.DataFrame()
    select = "*" if columns is None else ", ".join(f'"{c}"' for c in _columns(conn, table) if c in columns)
    return _frame(conn, f"select {select} from marts.{table} where as_of_date = ? and ({where})", [as_of])


def _sorted(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    # A table an older database lacks comes back without columns: nothing to sort.
    present = [c for c in columns if c in frame.columns]
    return frame.sort(present, nulls_last=True) if present else frame


def load(db_path: str | Path, as_of: dt.date | None = None, model: ScoringModel | None = None) -> ReportData:
    """Read the snapshot `as_of` (default: the latest) and its history from the published file, for a
    report on `model` (default: the shipped model; its KPI targets name indicator columns to read)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise ReportError(f"database not found: {db_path}")
    with read_only(db_path) as conn:
        if not _exists(conn, "marts", "account_scores"):
            raise ReportError(f"{db_path} has no marts.account_scores: run `kam run` first")
        snapshots = stored_snapshots(conn)
        if not snapshots:
            raise ReportError(f"{db_path} holds no scored snapshot yet")
        as_of = as_of or snapshots[-1]
        if as_of not in snapshots:
            raise ReportError(f"no snapshot for {as_of} in {db_path} (stored: {', '.join(str(d) for d in snapshots)})")
        previous = previous_snapshot(conn, as_of)
        upto = [d for d in snapshots if d <= as_of]
        scores = _sorted(_snapshot(conn, "account_scores", as_of), ["rank", "account_id"])
        alerts = _snapshot(conn, "score_alerts", as_of) if _exists(conn, "marts", "score_alerts") else None
        # Imported here: findings reads this module's ReportData.
        from kam_pipeline.report import findings

        # Per-account rows (about 20 an account each) only of the accounts the report names.
        drops = (
            findings.largest_drops(scores).get_column("account_id").to_list() if _has(scores, "score_change") else []
        )
        key = (
            scores.filter(pl.col("is_key_account")).get_column("account_id").to_list()
            if _has(scores, "is_key_account")
            else []
        )
        return ReportData(
            db_path=db_path,
            as_of=as_of,
            previous_as_of=previous,
            snapshots=upto,
            scores=scores,
            indicators=_snapshot(
                conn,
                "account_indicators",
                as_of,
                {*REPORT_COLUMNS, *findings.indicator_columns(scores, model or load_model())},
            ),
            contributions=_of_accounts(conn, "score_contributions", as_of, breakdown_accounts(scores) + drops),
            previous_contributions=_of_accounts(conn, "score_contributions", previous, drops),
            history=_trend_history(conn, upto[-TREND_SNAPSHOTS:], trend_accounts(scores, alerts, TREND_ACCOUNTS)),
            weights=_snapshot(conn, "indicator_weights", as_of),
            consistency=_snapshot(conn, "weight_consistency", as_of),
            managers=_sorted(_snapshot(conn, "manager_scores", as_of), ["rank", "manager_id"]),
            teams=_sorted(_snapshot(conn, "team_scores", as_of), ["rank", "team_id"]),
            portfolio=_snapshot(conn, "portfolio_kpis", as_of),
            kpis=_snapshot(conn, "kpi_attainment", as_of, where=_not_accounts(conn))
            if _exists(conn, "marts", "kpi_attainment")
            else None,
            alerts=alerts,
            quarantine_by_source=_quarantine_by_source(conn),
            quarantine_by_rule=_quarantine_by_rule(conn),
            failed_files=_failed_files(conn),
            missing_indicators=_missing_indicators(conn, as_of),
            bridge=_snapshot(conn, "revenue_bridge", as_of),
            method_comparison=_optional(conn, "method_comparison", as_of),
            method_agreement=_optional(conn, "method_agreement", as_of),
            changes=_of_accounts(conn, "score_changes", as_of, drops)
            if _exists(conn, "marts", "score_changes")
            else None,
            obstacles=_of_accounts(conn, "account_obstacles", as_of, key, f"obstacle_rank <= {findings.TOP_OBSTACLES}")
            if _exists(conn, "marts", "account_obstacles")
            else None,
            backtest=_backtest(conn, as_of) if _exists(conn, "marts", "score_backtest") else None,
            weight_stability=_optional(conn, "weight_stability", as_of),
        )


def _not_accounts(conn: duckdb.DuckDBPyConnection) -> str:
    """The filter of marts.kpi_attainment's manager and team rows (2 million account rows at 440,000
    accounts; an older table without levels is read whole)."""
    return "level <> 'account'" if "level" in _columns(conn, "kpi_attainment") else "true"


def _of_accounts(
    conn: duckdb.DuckDBPyConnection, table: str, as_of: dt.date | None, accounts: list[str], where: str = "true"
) -> pl.DataFrame:
    """The rows of `accounts` in the snapshot `as_of` of `marts.<table>` (and `where`); no frame without the
    snapshot or the table, as _snapshot."""
    if as_of is None or not _exists(conn, "marts", table):
        return pl.DataFrame()
    return _frame(
        conn,
        f"select * from marts.{table} where as_of_date = ? and ({where}) "
        "and account_id in (select unnest(?::varchar[]))",
        [as_of, accounts],
    )


def _has(frame: pl.DataFrame, column: str) -> bool:
    # An older database's marts may lack a column the report reads (or have no rows).
    return frame.height > 0 and column in frame.columns


def breakdown_accounts(scores: pl.DataFrame) -> list[str]:
    """The accounts of the breakdown chart in rank order: the whole book when it is small, else the
    BREAKDOWN_TOP best and the BREAKDOWN_BOTTOM worst scored."""
    if not _has(scores, "score"):
        return []
    ranked = scores.filter(pl.col("score").is_not_null()).sort(["rank", "account_id"]).get_column("account_id")
    if len(ranked) > BREAKDOWN_TOP + BREAKDOWN_BOTTOM:
        return ranked.head(BREAKDOWN_TOP).to_list() + ranked.tail(BREAKDOWN_BOTTOM).to_list()
    return ranked.to_list()


def top_accounts(scores: pl.DataFrame, n: int) -> list[str]:
    """The `n` best ranked scored accounts, in rank order."""
    if scores.is_empty():
        return []
    scored = scores.filter(pl.col("score").is_not_null()).sort(["rank", "account_id"])
    return scored.get_column("account_id").head(n).to_list()


def at_risk_accounts(scores: pl.DataFrame, alerts: pl.DataFrame | None, n: int) -> list[str]:
    """Accounts to watch: alerts first, then the largest score falls, then the lowest scores."""
    if scores.is_empty():
        return []
    alerted = (
        alerts.sort(["score_change", "account_id"], nulls_last=True).get_column("account_id")
        if alerts is not None and not alerts.is_empty()
        else pl.Series(dtype=pl.String)
    )
    falling = scores.filter(pl.col("score_change") < 0).sort(["score_change", "account_id"])
    lowest = scores.filter(pl.col("score").is_not_null()).sort(["score", "account_id"])
    # Only the first n distinct ids are needed: the candidates are cut to n each before merging.
    candidates = [
        alerted.unique(maintain_order=True).head(n),
        falling.get_column("account_id").head(n),
        lowest.get_column("account_id").head(n),
    ]
    return list(dict.fromkeys(a for series in candidates for a in series))[:n]


def trend_accounts(scores: pl.DataFrame, alerts: pl.DataFrame | None, n: int) -> list[str]:
    """The accounts of both trend charts: the `n` best ranked and the `n` to watch."""
    return list(dict.fromkeys([*top_accounts(scores, n), *at_risk_accounts(scores, alerts, n)]))


def _trend_history(conn: duckdb.DuckDBPyConnection, window: list[dt.date], accounts: list[str]) -> pl.DataFrame:
    """account_id, as_of_date, score of `accounts` on the snapshots of `window` (sorted dates)."""
    if not window or not accounts:
        return pl.DataFrame(schema={"account_id": pl.String, "as_of_date": pl.Date, "score": pl.Float64})
    # A range on as_of_date: the published views open only the files of the window's dates.
    return _frame(
        conn,
        "select account_id, as_of_date, score from marts.account_scores "
        "where as_of_date between ? and ? and account_id in (select unnest(?::varchar[])) "
        "order by account_id, as_of_date",
        [window[0], window[-1], accounts],
    )


def _optional(conn: duckdb.DuckDBPyConnection, table: str, as_of: dt.date) -> pl.DataFrame | None:
    """The snapshot of a mart an older database may lack (None then)."""
    return _snapshot(conn, table, as_of) if _exists(conn, "marts", table) else None


def _quarantine_by_source(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Rows held in each quarantine.<source> table (the current input, not one snapshot)."""
    tables = [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'quarantine' "
            "and table_name <> 'rule_violations' order by table_name"
        ).fetchall()
    ]
    rows = [(t, conn.execute(f'select count(*) from quarantine."{t}"').fetchall()[0][0]) for t in tables]
    return pl.DataFrame(rows, schema={"source": pl.String, "rows": pl.Int64}, orient="row").sort(
        ["rows", "source"], descending=[True, False]
    )


def _quarantine_by_rule(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    schema = {"source": pl.String, "column": pl.String, "rule": pl.String, "rows": pl.Int64}
    if not _exists(conn, "quarantine", "rule_violations"):
        return pl.DataFrame(schema=schema)
    return _frame(
        conn,
        'select source, "column", rule, count(*) as rows from quarantine.rule_violations '
        'group by all order by rows desc, source, "column", rule',
    ).cast(schema)


def _failed_files(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The files of the data folder that were not read: unreadable ('failed') or read by no source ('ignored')."""
    schema = {"source": pl.String, "file_name": pl.String, "status": pl.String, "reason": pl.String}
    if not _exists(conn, "raw", "ingest_log"):
        return pl.DataFrame(schema=schema)
    return _frame(
        conn,
        "select source, file_name, status, reason from raw.ingest_log where status in ('failed', 'ignored') "
        "order by status, source, file_name",
    ).cast(schema)


def _missing_indicators(conn: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Per scored indicator: accounts whose value is missing (imputed or re-weighted away)."""
    return _frame(
        conn,
        "select indicator, count(*) filter (where value is null) as accounts, "
        "count(*) filter (where value is null) / count(*) as share "
        "from marts.score_contributions where as_of_date = ? group by indicator "
        "having count(*) filter (where value is null) > 0 order by accounts desc, indicator",
        [as_of],
    )


def _backtest(conn: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Per horizon, the backtest of the latest snapshot whose follow-up snapshot is on or before `as_of`."""
    return _frame(
        conn,
        "select * from marts.score_backtest where followed_as_of_date <= ? "
        "qualify row_number() over (partition by horizon_days order by as_of_date desc) = 1 order by horizon_days",
        [as_of],
    )
