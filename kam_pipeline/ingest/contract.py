"""The input contract (CONTRACT §2) as data: sources, their columns, types and keys.

Everything that reads, validates or stages input files takes its column lists from
here, so the contract is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One contract column: its name, DuckDB staging type and whether it may be empty.

    `choices` closes the vocabulary of a categorical column (stored lower-case);
    `default` fills the column when a file lacks it or leaves the cell empty.
    """

    name: str
    sql_type: str
    nullable: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One input source: file stem, columns, key, and which staged tables it references."""

    name: str
    required: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (source, column)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


AMOUNT = "DECIMAL(18,4)"
# The largest magnitude a DECIMAL(18,4) holds: 14 digits before the point.
AMOUNT_LIMIT = 1e14

ORDER_STATUSES = ("completed", "cancelled", "returned")
COMPLAINT_SEVERITIES = ("low", "medium", "high", "critical")
REVIEWER_ROLES = ("self", "supervisor", "peer", "subordinate", "customer")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "managers",
            required=True,
            columns=(
                Column("manager_id", "VARCHAR"),
                Column("manager_name", "VARCHAR"),
                Column("team_id", "VARCHAR"),
                Column("team_name", "VARCHAR"),
            ),
            key=("manager_id",),
        ),
        Source(
            "accounts",
            required=True,
            columns=(
                Column("account_id", "VARCHAR"),
                Column("account_name", "VARCHAR"),
                Column("segment", "VARCHAR"),
                Column("industry", "VARCHAR"),
                Column("region", "VARCHAR"),
                Column("manager_id", "VARCHAR"),
                Column("since", "DATE"),
            ),
            key=("account_id",),
            references={"manager_id": ("managers", "manager_id")},
        ),
        Source(
            "orders",
            required=True,
            columns=(
                Column("order_id", "VARCHAR"),
                Column("line_no", "BIGINT", default="1"),
                Column("account_id", "VARCHAR"),
                Column("order_date", "DATE"),
                Column("product_category", "VARCHAR"),
                Column("quantity", "DOUBLE"),
                Column("net_amount", AMOUNT),
                Column("cost_amount", AMOUNT, nullable=True),
                Column("status", "VARCHAR", choices=ORDER_STATUSES),
            ),
            key=("order_id", "line_no"),
            references={"account_id": ("accounts", "account_id")},
        ),
        Source(
            "surveys",
            required=False,
            columns=(
                Column("response_id", "VARCHAR"),
                Column("account_id", "VARCHAR"),
                Column("responded_on", "DATE"),
                Column("overall", "DOUBLE", nullable=True),
                Column("product_quality", "DOUBLE", nullable=True),
                Column("service_quality", "DOUBLE", nullable=True),
                Column("price_value", "DOUBLE", nullable=True),
                Column("responsiveness", "DOUBLE", nullable=True),
                Column("recommend", "DOUBLE", nullable=True),
            ),
            key=("response_id",),
            references={"account_id": ("accounts", "account_id")},
        ),
        Source(
            "complaints",
            required=False,
            columns=(
                Column("complaint_id", "VARCHAR"),
                Column("account_id", "VARCHAR"),
                Column("opened_at", "TIMESTAMP"),
                Column("resolved_at", "TIMESTAMP", nullable=True),
                Column("severity", "VARCHAR", choices=COMPLAINT_SEVERITIES),
                Column("category", "VARCHAR"),
            ),
            key=("complaint_id",),
            references={"account_id": ("accounts", "account_id")},
        ),
        Source(
            "wallet",
            required=False,
            columns=(
                Column("account_id", "VARCHAR"),
                Column("year", "BIGINT"),
                Column("wallet_amount", "DOUBLE"),
            ),
            key=("account_id", "year"),
            references={"account_id": ("accounts", "account_id")},
        ),
        Source(
            "market",
            required=False,
            columns=(
                Column("industry", "VARCHAR"),
                Column("region", "VARCHAR"),
                Column("year", "BIGINT"),
                Column("market_size", "DOUBLE"),
            ),
            key=("industry", "region", "year"),
        ),
        Source(
            "assessments",
            required=False,
            columns=(
                Column("account_id", "VARCHAR"),
                Column("assessed_on", "DATE"),
                Column("assessor", "VARCHAR"),
                Column("dimension", "VARCHAR"),
                Column("score", "DOUBLE"),
            ),
            references={"account_id": ("accounts", "account_id")},
        ),
        Source(
            "feedback",
            required=False,
            columns=(
                Column("manager_id", "VARCHAR"),
                Column("reviewed_on", "DATE"),
                Column("reviewer_role", "VARCHAR", choices=REVIEWER_ROLES),
                Column("competency", "VARCHAR"),
                Column("score", "DOUBLE"),
            ),
            references={"manager_id": ("managers", "manager_id")},
        ),
        Source(
            "invoices",
            required=False,
            columns=(
                Column("invoice_id", "VARCHAR"),
                Column("account_id", "VARCHAR"),
                Column("issued_on", "DATE"),
                Column("due_on", "DATE"),
                Column("paid_on", "DATE", nullable=True),
                Column("amount", AMOUNT),
            ),
            key=("invoice_id",),
            references={"account_id": ("accounts", "account_id")},
        ),
        # What winning each account cost (campaigns, trials, sales effort): with it, new accounts are
        # judged on acquisition cost and payback too.
        Source(
            "acquisition",
            required=False,
            columns=(
                Column("account_id", "VARCHAR"),
                Column("acquired_on", "DATE"),
                Column("acquisition_cost", AMOUNT),
            ),
            key=("account_id",),
            references={"account_id": ("accounts", "account_id")},
        ),
    )
}
