"""The synthetic data generator: contract-valid, deterministic, and realistic enough to score."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from kam_pipeline.demo.generate import (
    ASSESSMENT_DIMENSIONS,
    SEGMENTS,
    SLA_HOURS,
    account_profiles,
    generate_dataset,
)
from kam_pipeline.ingest.contract import (
    COMPLAINT_SEVERITIES,
    ORDER_STATUSES,
    REVIEWER_ROLES,
    SOURCES,
)

END = date(2026, 5, 10)
DAYS = 730
START = END - timedelta(days=DAYS - 1)
ACCOUNTS = 60

_POLARS_TYPE = {
    "VARCHAR": pl.String,
    "BIGINT": pl.Int64,
    "INTEGER": pl.Int64,
    "DOUBLE": pl.Float64,
    "DATE": pl.Date,
    "TIMESTAMP": pl.Datetime("us"),
}


def _schema(source: str) -> dict[str, pl.DataType]:
    return {c.name: _POLARS_TYPE.get(c.sql_type, pl.Float64) for c in SOURCES[source].columns}


def _files(folder: Path, source: str) -> list[Path]:
    pattern = re.compile(rf"^{source}(_.+)?\.csv$")
    return sorted(p for p in folder.iterdir() if pattern.match(p.name))


def _read(folder: Path, source: str) -> pl.DataFrame:
    """Read every file of a source with the contract types; parsing is strict, so a bad cell fails."""
    return pl.concat([pl.read_csv(p, schema=_schema(source)) for p in _files(folder, source)])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("generated")
    return folder, generate_dataset(folder, accounts=ACCOUNTS, days=DAYS, seed=7, end=END)


@pytest.fixture(scope="module")
def frames(data: tuple[Path, dict[str, int]]) -> dict[str, pl.DataFrame]:
    folder, _ = data
    return {source: _read(folder, source) for source in SOURCES}


# ---------------------------------------------------------------- files and determinism


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    args = {"accounts": 24, "days": 400, "end": END}
    generate_dataset(tmp_path / "a", seed=3, **args)
    generate_dataset(tmp_path / "b", seed=3, **args)
    generate_dataset(tmp_path / "c", seed=4, **args)
    first, again, other = (_snapshot(tmp_path / x) for x in "abc")
    assert first == again
    assert first.keys() == other.keys()
    assert first["orders.csv"] != other["orders.csv"]
    assert first["accounts.csv"] != other["accounts.csv"]


def test_every_source_is_written_with_exactly_the_contract_columns(data: tuple[Path, dict[str, int]]) -> None:
    folder, counts = data
    assert list(counts) == list(SOURCES)
    for source, spec in SOURCES.items():
        files = _files(folder, source)
        assert files, source
        for path in files:
            text = path.read_bytes().decode("utf-8")  # strict UTF-8
            assert not text.startswith("\ufeff")
            assert text.splitlines()[0].split(",") == spec.column_names, path.name
        assert sum(pl.read_csv(p, schema=_schema(source)).height for p in files) == counts[source]


def test_default_scale_is_a_fast_demo(data: tuple[Path, dict[str, int]]) -> None:
    _, counts = data
    assert 10_000 <= counts["orders"] <= 20_000
    assert counts["managers"] == ACCOUNTS // 6
    assert counts["accounts"] == ACCOUNTS


def test_daily_order_files_cover_the_last_days_without_overlap(
    data: tuple[Path, dict[str, int]], frames: dict[str, pl.DataFrame]
) -> None:
    folder, _ = data
    daily = sorted(p.name for p in folder.glob("orders_*.csv"))
    assert daily == [f"orders_{END - timedelta(days=k)}.csv" for k in range(6, -1, -1)]
    history = pl.read_csv(folder / "orders.csv", schema=_schema("orders"))
    assert history["order_date"].max() < END - timedelta(days=6)
    seen = set(history["order_id"].to_list())
    for name in daily:
        part = pl.read_csv(folder / name, schema=_schema("orders"))
        assert part["order_date"].unique().to_list() in ([], [date.fromisoformat(name[7:17])])
        ids = set(part["order_id"].to_list())
        assert not ids & seen, name
        seen |= ids
    assert len(seen) == frames["orders"]["order_id"].n_unique()


def test_rerun_into_the_same_folder_removes_stale_daily_files(tmp_path: Path) -> None:
    generate_dataset(tmp_path, accounts=6, days=60, end=END, daily_files=3)
    generate_dataset(tmp_path, accounts=6, days=60, end=END + timedelta(days=10), daily_files=2)
    assert sorted(p.name for p in tmp_path.glob("orders_*.csv")) == [
        f"orders_{END + timedelta(days=9)}.csv",
        f"orders_{END + timedelta(days=10)}.csv",
    ]


def test_end_defaults_to_yesterday(tmp_path: Path) -> None:
    generate_dataset(tmp_path, accounts=4, days=30, daily_files=1)
    assert (tmp_path / f"orders_{date.today() - timedelta(days=1)}.csv").exists()


def test_invalid_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, accounts=0)
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, days=5, daily_files=7)


# ---------------------------------------------------------------- contract


def test_keys_are_unique(frames: dict[str, pl.DataFrame]) -> None:
    for source, spec in SOURCES.items():
        if spec.key:
            assert not frames[source].select(spec.key).is_duplicated().any(), source


def test_references_resolve(frames: dict[str, pl.DataFrame]) -> None:
    accounts = set(frames["accounts"]["account_id"].to_list())
    managers = set(frames["managers"]["manager_id"].to_list())
    for source, spec in SOURCES.items():
        if "account_id" in spec.column_names and source != "accounts":
            assert set(frames[source]["account_id"].to_list()) <= accounts, source
    assert set(frames["accounts"]["manager_id"].to_list()) <= managers
    assert set(frames["feedback"]["manager_id"].to_list()) == managers
    assert set(frames["orders"]["account_id"].to_list()) <= accounts


def test_no_required_cell_is_empty(frames: dict[str, pl.DataFrame]) -> None:
    for source, spec in SOURCES.items():
        for column in spec.columns:
            if not column.nullable:
                assert frames[source][column.name].null_count() == 0, f"{source}.{column.name}"


def test_values_are_in_their_allowed_sets_and_ranges(frames: dict[str, pl.DataFrame]) -> None:
    orders, surveys = frames["orders"], frames["surveys"]
    assert set(orders["status"].unique().to_list()) == set(ORDER_STATUSES)
    assert set(frames["complaints"]["severity"].unique().to_list()) == set(COMPLAINT_SEVERITIES)
    assert set(frames["feedback"]["reviewer_role"].unique().to_list()) == set(REVIEWER_ROLES)
    assert set(frames["assessments"]["dimension"].unique().to_list()) == set(ASSESSMENT_DIMENSIONS)
    assert set(frames["accounts"]["segment"].unique().to_list()) == set(SEGMENTS)
    for column in ("overall", "product_quality", "service_quality", "price_value", "responsiveness"):
        assert surveys[column].drop_nulls().is_between(1, 5).all(), column
        assert 0 < surveys[column].null_count() < 0.1 * surveys.height, column
    assert surveys["recommend"].drop_nulls().is_between(0, 10).all()
    for source in ("assessments", "feedback"):
        scores = frames[source]["score"]
        assert scores.is_between(1, 5).all() and (scores == scores.round()).all(), source
    assert (orders["quantity"] >= 0).all() and (orders["net_amount"] >= 0).all()
    assert (orders["cost_amount"].drop_nulls() >= 0).all()
    assert (frames["wallet"]["wallet_amount"] > 0).all()
    assert (frames["market"]["market_size"] > 0).all()
    assert (frames["invoices"]["amount"] >= 0).all()


def test_event_dates_fall_inside_the_covered_range(frames: dict[str, pl.DataFrame]) -> None:
    dated = {
        "orders": ["order_date"],
        "surveys": ["responded_on"],
        "assessments": ["assessed_on"],
        "feedback": ["reviewed_on"],
        "invoices": ["issued_on", "paid_on"],
    }
    for source, columns in dated.items():
        for column in columns:
            values = frames[source][column].drop_nulls()
            assert values.min() >= START and values.max() <= END, f"{source}.{column}"
    complaints = frames["complaints"]
    for column in ("opened_at", "resolved_at"):
        values = complaints[column].drop_nulls()
        assert values.min() >= datetime.combine(START, datetime.min.time())
        assert values.max() < datetime.combine(END + timedelta(days=1), datetime.min.time())
    assert (frames["accounts"]["since"] <= END).all()


def test_timestamps_are_iso_8601_without_fractions(data: tuple[Path, dict[str, int]]) -> None:
    folder, _ = data
    complaints = pl.read_csv(folder / "complaints.csv", infer_schema=False)
    stamp = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
    assert complaints["opened_at"].str.contains(stamp).all()
    assert complaints["resolved_at"].drop_nulls().str.contains(stamp).all()


# ---------------------------------------------------------------- structure the brief asks for


def test_teams_have_two_to_four_managers(frames: dict[str, pl.DataFrame]) -> None:
    sizes = frames["managers"].group_by("team_id", "team_name").len()["len"]
    assert sizes.is_between(2, 4).all()
    assert frames["managers"]["team_id"].n_unique() == sizes.len()


def test_names_include_chinese_text(frames: dict[str, pl.DataFrame]) -> None:
    cjk = r"[\u4e00-\u9fff]"
    assert frames["accounts"]["account_name"].str.contains(cjk).any()
    assert frames["accounts"]["account_name"].str.contains("有限公司").any()
    assert frames["accounts"]["account_name"].n_unique() == ACCOUNTS


def test_order_lines_are_numbered_one_to_k(frames: dict[str, pl.DataFrame]) -> None:
    per_order = (
        frames["orders"]
        .group_by("order_id")
        .agg(
            n=pl.len(),
            low=pl.col("line_no").min(),
            high=pl.col("line_no").max(),
            dates=pl.col("order_date").n_unique(),
        )
    )
    assert (per_order["low"] == 1).all() and (per_order["high"] == per_order["n"]).all()
    assert per_order["n"].is_between(1, 5).all() and per_order["n"].max() == 5
    assert (per_order["dates"] == 1).all()


def test_order_mix_matches_the_brief(frames: dict[str, pl.DataFrame]) -> None:
    orders = frames["orders"]
    share = orders["status"].value_counts(normalize=True).to_dicts()
    share = {row["status"]: row["proportion"] for row in share}
    assert 0.91 < share["completed"] < 0.97
    assert 0.01 < share["cancelled"] < 0.05 and 0.01 < share["returned"] < 0.05
    assert 0.01 < orders["cost_amount"].null_count() / orders.height < 0.06
    margin = orders.drop_nulls("cost_amount").select(1 - pl.col("cost_amount") / pl.col("net_amount"))
    assert margin.to_series().is_between(0.14, 0.46).all()
    breadth = orders.group_by("account_id").agg(pl.col("product_category").n_unique())["product_category"]
    assert breadth.min() < breadth.max()  # accounts buy different mixes


def test_complaints_resolve_after_opening_and_some_breach_the_sla(frames: dict[str, pl.DataFrame]) -> None:
    complaints = frames["complaints"]
    resolved = complaints.drop_nulls("resolved_at")
    assert (resolved["resolved_at"] > resolved["opened_at"]).all()
    assert 0 < complaints["resolved_at"].null_count() < 0.1 * complaints.height
    counts = complaints["severity"].value_counts().to_dicts()
    counts = {row["severity"]: row["count"] for row in counts}
    assert counts["low"] > counts["medium"] > counts["high"] > counts["critical"]
    sla = dict(zip(COMPLAINT_SEVERITIES, SLA_HOURS, strict=True))
    hours = resolved.select(
        late=(pl.col("resolved_at") - pl.col("opened_at")).dt.total_seconds() / 3600
        > pl.col("severity").replace_strict(sla)
    )["late"]
    assert 0.05 < hours.mean() < 0.5


def test_invoices_follow_orders_and_payment_habits(frames: dict[str, pl.DataFrame]) -> None:
    invoices, orders = frames["invoices"], frames["orders"]
    assert ((invoices["due_on"] - invoices["issued_on"]).dt.total_days().is_in([30, 60])).all()
    paid = invoices.drop_nulls("paid_on")
    assert (paid["paid_on"] >= paid["issued_on"]).all()
    not_due = invoices.filter(pl.col("due_on") > END)
    assert not_due.height > 0 and not_due["paid_on"].null_count() == not_due.height
    assert invoices.filter((pl.col("due_on") <= END) & pl.col("paid_on").is_null()).height > 0
    assert (paid["paid_on"] > paid["due_on"]).any()
    billed = orders.filter(pl.col("status") != "cancelled")
    assert invoices.height == billed["order_id"].n_unique()
    assert abs(invoices["amount"].sum() - billed["net_amount"].sum()) < 1.0


def test_wallet_and_market_cover_every_year_and_exceed_our_revenue(frames: dict[str, pl.DataFrame]) -> None:
    years = list(range(START.year, END.year + 1))
    wallet = frames["wallet"]
    assert wallet.height == ACCOUNTS * len(years)
    revenue = (
        frames["orders"]
        .filter(pl.col("status") == "completed")
        .group_by("account_id", year=pl.col("order_date").dt.year())
        .agg(revenue=pl.col("net_amount").sum())
    )
    joined = revenue.join(wallet, on=["account_id", "year"], how="left")
    assert joined["wallet_amount"].null_count() == 0
    assert (joined["wallet_amount"] > joined["revenue"]).all()
    share = joined.select(pl.col("revenue") / pl.col("wallet_amount")).to_series()
    assert share.max() < 0.9 and share.median() > 0.1

    market = frames["market"]
    pairs = frames["accounts"].select("industry", "region").unique()
    assert pairs.join(market, on=["industry", "region"], how="anti").height == 0
    assert sorted(market["year"].unique().to_list()) == years
    growth = market.sort("industry", "region", "year").select(
        pl.col("market_size").pct_change().over("industry", "region")
    )
    assert growth.to_series().drop_nulls().is_between(-0.05, 0.15 + 1e-9).all()


def test_each_account_assessment_has_two_or_three_assessors(frames: dict[str, pl.DataFrame]) -> None:
    sessions = (
        frames["assessments"]
        .group_by("account_id", "assessed_on")
        .agg(assessors=pl.col("assessor").n_unique(), rows=pl.len())
    )
    assert sessions["assessors"].is_between(2, 3).all()
    assert (sessions["rows"] == sessions["assessors"] * len(ASSESSMENT_DIMENSIONS)).all()
    per_year = (
        frames["assessments"]
        .group_by("account_id", year=pl.col("assessed_on").dt.year())
        .agg(sessions=pl.col("assessed_on").n_unique())
    )
    assert per_year["sessions"].is_between(1, 2).all()


def test_new_accounts_start_inside_the_range_and_old_ones_before(frames: dict[str, pl.DataFrame]) -> None:
    profile = account_profiles(ACCOUNTS, DAYS, 7, END).join(frames["accounts"], on="account_id")
    new = profile.filter(pl.col("trajectory") == "new")
    assert new.height > 0 and (new["since"] >= END - timedelta(days=365)).all()
    first_order = frames["orders"].group_by("account_id").agg(first=pl.col("order_date").min())
    starts = first_order.join(profile, on="account_id").select(pl.col("first") >= pl.col("since"))
    assert starts.to_series().all()
    old = profile.filter(pl.col("trajectory") != "new")
    assert (old["since"] < START).all()
    assert ((END - old["since"]).dt.total_days() / 365.25).is_between(0.5, 16).all()


# ---------------------------------------------------------------- realism (the reasons behind the scores)


def test_trajectories_show_in_the_orders(frames: dict[str, pl.DataFrame]) -> None:
    cut = END - timedelta(days=365)
    completed = frames["orders"].filter(pl.col("status") == "completed")
    revenue = completed.group_by("account_id").agg(
        current=pl.col("net_amount").filter(pl.col("order_date") > cut).sum(),
        previous=pl.col("net_amount").filter(pl.col("order_date") <= cut).sum(),
        last=pl.col("order_date").max(),
    )
    profile = account_profiles(ACCOUNTS, DAYS, 7, END).join(revenue, on="account_id", how="left")

    churned = profile.filter(pl.col("trajectory") == "churned")
    assert churned.height > 0
    assert (churned["last"] < END - timedelta(days=180)).all()
    assert (churned["previous"] > 0).all()

    growing = profile.filter(pl.col("trajectory") == "growing")
    assert (growing["current"] > growing["previous"]).mean() >= 0.7
    assert growing["current"].sum() > 1.15 * growing["previous"].sum()

    declining = profile.filter(pl.col("trajectory") == "declining")
    assert declining["current"].sum() < 0.9 * declining["previous"].sum()


def test_accounts_with_more_complaints_answer_surveys_worse(frames: dict[str, pl.DataFrame]) -> None:
    orders = frames["orders"].group_by("account_id").agg(orders=pl.col("order_id").n_unique())
    complaints = frames["complaints"].group_by("account_id").len("complaints")
    satisfaction = frames["surveys"].group_by("account_id").agg(pl.col("overall").mean())
    per_account = (
        orders.join(complaints, on="account_id", how="left")
        .fill_null(0)
        .join(satisfaction, on="account_id")
        .with_columns(rate=pl.col("complaints") / pl.col("orders"))
    )
    for load in ("complaints", "rate"):
        many = per_account.filter(pl.col(load) > pl.col(load).median())["overall"].mean()
        few = per_account.filter(pl.col(load) <= pl.col(load).median())["overall"].mean()
        assert few - many > 0.2, load


def test_late_payers_get_lower_credit_ratings(frames: dict[str, pl.DataFrame]) -> None:
    profile = account_profiles(ACCOUNTS, DAYS, 7, END)
    credit = (
        frames["assessments"]
        .filter(pl.col("dimension") == "credit_risk")
        .join(profile, on="account_id")
        .group_by("payer_type")
        .agg(pl.col("score").mean())
    )
    score = dict(zip(credit["payer_type"].to_list(), credit["score"].to_list(), strict=True))
    assert score["prompt"] > score["late"] + 0.5


def test_order_lines_scale_with_accounts_and_days(tmp_path: Path) -> None:
    base = generate_dataset(tmp_path / "base", accounts=120, days=730, end=END)["orders"]
    more_accounts = generate_dataset(tmp_path / "accounts", accounts=240, days=730, end=END)["orders"]
    fewer_days = generate_dataset(tmp_path / "days", accounts=120, days=365, end=END)["orders"]
    assert 1.7 < more_accounts / base < 2.3
    assert 0.4 < fewer_days / base < 0.6
