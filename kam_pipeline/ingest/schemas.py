"""Pandera models: the row-level rules of the input contract (CONTRACT §2).

Ingestion applies these rules inside DuckDB (`rules_sql.py` translates them) and
the blocking `satisfies_contract` check validates every staged row with the models
themselves; every failure becomes a quarantine reason. Rules that need other rows or other sources
(duplicate keys, unknown accounts) are checked in DuckDB by `load.py`.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from kam_pipeline.ingest.contract import COMPLAINT_SEVERITIES, ORDER_STATUSES, REVIEWER_ROLES

RESOLVED_AFTER_OPENED = "resolved_at must not be before opened_at"
DUE_AFTER_ISSUE = "due_on must not be before issued_on"

# Row checks that compare columns: the column a quarantine reason names for each.
ROW_CHECK_COLUMNS: dict[str, str] = {RESOLVED_AFTER_OPENED: "resolved_at", DUE_AFTER_ISSUE: "due_on"}
# The same row checks in SQL, for validation inside DuckDB (`rules_sql.py`): the condition under
# which a row FAILS, over the typed columns; a null side fails nothing (its own column rule reports it).
SQL_ROW_CHECKS: dict[str, str] = {
    RESOLVED_AFTER_OPENED: "{resolved_at} < {opened_at}",
    DUE_AFTER_ISSUE: "{due_on} < {issued_on}",
}


class _Contract(pa.DataFrameModel):
    class Config:
        strict = False  # unknown extra columns are allowed (kept in raw)
        coerce = False  # typing is done beforehand so a bad cell names its row


class Managers(_Contract):
    manager_id: str
    manager_name: str
    team_id: str
    team_name: str


class Accounts(_Contract):
    account_id: str
    account_name: str
    segment: str
    industry: str
    region: str
    manager_id: str
    since: dt.date


class Orders(_Contract):
    order_id: str
    line_no: int = pa.Field(ge=1)
    account_id: str
    order_date: dt.date
    product_category: str
    quantity: float = pa.Field(ge=0)
    net_amount: float
    cost_amount: float = pa.Field(ge=0, nullable=True)
    status: str = pa.Field(isin=list(ORDER_STATUSES))


_score_1_5 = {"ge": 1, "le": 5}


class Surveys(_Contract):
    response_id: str
    account_id: str
    responded_on: dt.date
    overall: float = pa.Field(nullable=True, **_score_1_5)
    product_quality: float = pa.Field(nullable=True, **_score_1_5)
    service_quality: float = pa.Field(nullable=True, **_score_1_5)
    price_value: float = pa.Field(nullable=True, **_score_1_5)
    responsiveness: float = pa.Field(nullable=True, **_score_1_5)
    recommend: float = pa.Field(nullable=True, ge=0, le=10)


class Complaints(_Contract):
    complaint_id: str
    account_id: str
    opened_at: dt.datetime
    resolved_at: dt.datetime = pa.Field(nullable=True)
    severity: str = pa.Field(isin=list(COMPLAINT_SEVERITIES))
    category: str

    @pa.dataframe_check(name=RESOLVED_AFTER_OPENED)
    def resolved_after_opened(cls, data: pa.PolarsData) -> pl.LazyFrame:
        # An empty or unparsable side is reported by its own column rule, not here.
        return data.lazyframe.select(
            pl.col("resolved_at").is_null()
            | pl.col("opened_at").is_null()
            | (pl.col("resolved_at") >= pl.col("opened_at"))
        )


class Wallet(_Contract):
    account_id: str
    year: int = pa.Field(ge=1900, le=2200)
    wallet_amount: float = pa.Field(ge=0)


class Market(_Contract):
    industry: str
    region: str
    year: int = pa.Field(ge=1900, le=2200)
    market_size: float = pa.Field(ge=0)


class Assessments(_Contract):
    account_id: str
    assessed_on: dt.date
    assessor: str
    dimension: str
    score: float = pa.Field(**_score_1_5)


class Feedback(_Contract):
    manager_id: str
    reviewed_on: dt.date
    reviewer_role: str = pa.Field(isin=list(REVIEWER_ROLES))
    competency: str
    score: float = pa.Field(**_score_1_5)


class Invoices(_Contract):
    invoice_id: str
    account_id: str
    issued_on: dt.date
    due_on: dt.date
    paid_on: dt.date = pa.Field(nullable=True)
    amount: float = pa.Field(ge=0)

    @pa.dataframe_check(name=DUE_AFTER_ISSUE)
    def due_after_issue(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("due_on").is_null() | pl.col("issued_on").is_null() | (pl.col("due_on") >= pl.col("issued_on"))
        )


class Acquisition(_Contract):
    account_id: str
    acquired_on: dt.date
    acquisition_cost: float = pa.Field(ge=0)


MODELS: dict[str, type[_Contract]] = {
    "managers": Managers,
    "accounts": Accounts,
    "orders": Orders,
    "surveys": Surveys,
    "complaints": Complaints,
    "wallet": Wallet,
    "market": Market,
    "assessments": Assessments,
    "feedback": Feedback,
    "invoices": Invoices,
    "acquisition": Acquisition,
}
