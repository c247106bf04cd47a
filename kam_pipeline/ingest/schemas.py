"""Pandera models: the row-level rules of the input contract (CONTRACT §2), declared once.

Every rule a row can break is declared here and nowhere else. Ingestion applies the
rules inside DuckDB as SQL that `rules_sql.py` generates from these models (a check it
cannot translate stops the import, naming the model and the check), and the blocking
`satisfies_contract` check runs the same models with pandera's Ibis backend inside DuckDB
over the staged rows. Rules that need other rows or other sources (duplicate keys,
unknown accounts) are checked in DuckDB by `cross_rows.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandera.polars as pa
import polars as pl

from kam_pipeline.ingest.contract import COMPLAINT_SEVERITIES, ORDER_STATUSES, REVIEWER_ROLES

# The one kind of check across columns the contract has: a row fails when both sides are set
# and `later` is before `earlier`; an empty or unparsable side is reported by its own column rule.
NOT_BEFORE = "not_before"


def not_before_check(data: Any, *, later: str, earlier: str) -> Any:
    """The rows that pass `later` >= `earlier` (or have a null side), for polars or Ibis data.

    The same check runs on a polars frame (pandera's polars backend) and on a DuckDB table
    (its Ibis backend); `rules_sql.py` translates it from the `later` and `earlier` statistics.
    """
    if isinstance(data, pa.PolarsData):
        return data.lazyframe.select(
            pl.col(later).is_null() | pl.col(earlier).is_null() | (pl.col(later) >= pl.col(earlier))
        )
    table = data.table
    return table[later].isnull() | table[earlier].isnull() | (table[later] >= table[earlier])


def not_before(later: str, earlier: str) -> classmethod:
    """A model check (`name = not_before(...)` in the class body): `later` must not be before `earlier`."""

    def check(cls, data: Any, *, rule: str, later: str, earlier: str) -> Any:
        return not_before_check(data, later=later, earlier=earlier)

    # The statistics say what the check is, so the SQL translation reads it from the model.
    return pa.dataframe_check(
        check, name=f"{later} must not be before {earlier}", rule=NOT_BEFORE, later=later, earlier=earlier
    )


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

    resolved_after_opened = not_before("resolved_at", "opened_at")


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

    due_after_issue = not_before("due_on", "issued_on")


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
