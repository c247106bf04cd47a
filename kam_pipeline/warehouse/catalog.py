"""Descriptions of every `marts` table and column, applied as DuckDB COMMENTs for BI tools."""

from __future__ import annotations

_COMMON = {
    "as_of_date": "As-of date D of the snapshot; indicators use the window [D - W, D)",
    "account_id": "Account identifier (accounts.account_id)",
    "account_name": "Account name as delivered",
    "segment": "Account segment (accounts.segment); 'all' on portfolio total rows",
    "industry": "Account industry (accounts.industry)",
    "region": "Account region (accounts.region)",
    "manager_id": "Owning account manager (managers.manager_id)",
    "manager_name": "Account manager name",
    "team_id": "Team of the account manager (managers.team_id)",
    "team_name": "Team name",
    "window_days": "Window length W in days",
    "revenue": "Signed net revenue in the window C: completed lines minus returned lines (currency)",
    "revenue_prev": "Signed net revenue in the previous window P (currency)",
    "revenue_growth": "(revenue - revenue_prev) / revenue_prev; NULL when revenue_prev = 0",
    "profile": "Scoring profile (weights and targets) the account was scored with",
    "score": "Weighted score 0-100",
    "rank": "Rank by score within the snapshot, 1 = best",
    "grade": "Grade from the model's grade bands, or insufficient_data",
    "nrr": "Net revenue retention: sum revenue_C / sum revenue_P over accounts with revenue in P",
    "grr": "Gross revenue retention: sum min(revenue_C, revenue_P) / sum revenue_P over accounts with revenue in P",
    "logo_retention": "Share of accounts with revenue in P that also have revenue in C",
    "account_count": "Number of accounts evaluated",
    "churned_accounts": "Accounts flagged is_churned",
    "feedback_score": "360-degree feedback score 0-100: mean per reviewer role, roles weighted as configured",
    "subject": "What was scored: 'account' or 'manager' (the manager scorecard)",
    "level": "account, manager or team",
    "entity_id": "account_id, manager_id or team_id, by level",
    "kpi_attainment": "Mean KPI attainment 0-1: each KPI's attainment clipped to [0, kpi_cap] / kpi_cap",
    "kpis_met": "KPIs at or beyond their target",
    "kpis_evaluated": "KPIs with a value",
    "manager_count": "Managers in the team (1 on manager rows)",
    "accounts_scored": "Accounts with a score in the book",
    "key_accounts": "Key accounts in the book",
    "avg_completeness": "Mean completeness of the book's account scores",
    "account_score": "Revenue-weighted mean score of the book's accounts (plain mean without revenue)",
    "csat": "Mean satisfaction 0-100 (book level: weighted by survey responses)",
    "nps": "Net promoter score (book level: weighted by survey responses)",
    "share_of_wallet": "revenue / wallet estimate over the window (book level: accounts with a wallet estimate)",
    "active_month_ratio": "Months with a completed order / months in the window (book level: mean over accounts)",
    "complaint_rate": "Complaints per 100 orders",
    "avg_resolution_hours": "Mean hours to resolve complaints, an open one counting its age at D (book level: weighted by complaints)",
    "sla_breach_rate": "Share of complaints past their severity's SLA (book level: weighted by complaints)",
    "completeness": "Share (0-1) of the scoring weight backed by real indicator values",
    "model_version": "Version of the scoring model that computed the row: the first 12 hex digits of the "
    "SHA-256 of its canonical content (kam compare scores a date with another model)",
}

_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "account_indicators": (
        "Raw indicator values per account and as-of date (each column's formula is in its description)",
        {
            "gross_margin": "(net - cost) / net over window lines that carry cost data; NULL without cost data",
            "order_count": "Distinct orders with a completed line in C",
            "avg_order_value": "revenue / order_count (currency); NULL without orders",
            "order_frequency": "Orders per 30 days: order_count / (W / 30)",
            "product_breadth": "Distinct product categories bought in C",
            "active_month_ratio": "Calendar months of C with a completed order / calendar months overlapping C",
            "recency_days": "Days from the last completed order (before D) to D; NULL if none",
            "last_order_date": "Date of the last completed order before D",
            "tenure_years": "(D - accounts.since) / 365.25",
            "is_churned": "1 if the account bought before (revenue in P or any order before C) and not in the last churn_days",
            "revenue_retention": "min(revenue / revenue_prev, cap); NULL when revenue_prev = 0",
            "share_of_wallet": "revenue / wallet prorated over C; NULL without wallet data",
            "wallet_amount_window": "Wallet estimate prorated to the window C (currency)",
            "market_year": "Calendar year holding most days of C, used for market data",
            "market_growth": "Growth of the account's (industry, region) market from market_year - 1 to market_year",
            "market_growth_gap": "revenue_growth - market_growth; NULL without market data",
            "csat": "Mean overall survey score in C rescaled to 0-100",
            "product_quality": "Mean product-quality survey score in C, 0-100",
            "service_quality": "Mean service-quality survey score in C, 0-100",
            "price_value": "Mean price/value survey score in C, 0-100",
            "responsiveness": "Mean responsiveness survey score in C, 0-100",
            "nps": "Net promoter score in C: % recommend >= 9 minus % recommend <= 6",
            "survey_count": "Survey responses in C",
            "complaint_count": "Complaints opened in C",
            "complaint_rate": "Complaints per 100 orders in C; NULL without orders",
            "avg_resolution_hours": "Mean over complaints opened in C of hours to resolution, or of age at D while still open",
            "sla_breach_rate": "Share of complaints opened in C resolved after, or open past, their severity's SLA",
            "open_complaints": "Complaints opened in C and not resolved at D",
            "invoice_count": "Invoices issued in C",
            "overdue_ratio": "Amount of invoices issued in C paid late or unpaid past due at D / amount invoiced",
            "avg_days_late": "Mean days late (paid_on or D, minus due_on, floored at 0) of invoices issued in C",
        },
    ),
    "account_assessments": (
        "Latest qualitative expert assessment per account and dimension in the window",
        {
            "dimension": "Assessment dimension as delivered",
            "score": "Mean assessor score on the latest assessment date in C, rescaled 1-5 -> 0-100",
            "assessor_count": "Number of assessor ratings on that date",
            "assessed_on": "Date of the latest assessment in C",
        },
    ),
    "portfolio_kpis": (
        "Portfolio KPIs per segment, plus a total row with segment 'all'",
        {
            "active_accounts": "Accounts with revenue > 0 in C",
            "retained_accounts": "Accounts with revenue in both P and C",
            "churn_rate": "1 - logo_retention",
            "market_size": "Market size in market_year of the (industry, region) pairs the accounts cover",
            "market_share": "revenue / market_size; NULL without market data",
        },
    ),
    "manager_indicators": (
        "Book-of-business indicators per account manager",
        {
            "feedback_count": "360 feedback ratings in C",
            "feedback_roles": "Reviewer roles present in the 360 feedback",
        },
    ),
    "account_scores": (
        "Account scores: weighted 0-100 score, group sub-scores, rank, grade and change",
        {
            "segment_rank": "Rank by score within the account's segment, 1 = best",
            "previous_score": "Score in the previous stored snapshot",
            "score_change": "score - previous_score",
            "completeness": "Share (0-1) of the scoring weight backed by real indicator values",
            "is_key_account": "True when the account is a key account (Pareto share of revenue or a rule)",
            "key_account_rule": "Which rule made the account a key account (pareto_80, rule:<name>)",
            "indicators_missing": "Scored indicators without a value for this account",
            "peer_group": "Whom the relative indicators were normalised among: the profile, or 'portfolio' "
            "(all scored accounts) when the profile has fewer than min_peers",
            "peer_count": "Scored accounts in peer_group; bounded indicators need no peers",
        },
    ),
    "score_contributions": (
        "Every score explained: indicator value, normalised value, effective weight and points",
        {
            "indicator": "Indicator id from the scoring model",
            "group": "Indicator group (perspective)",
            "value": "Raw indicator value",
            "normalized": "Normalised value 0-1 (direction applied); policy value when imputed",
            "imputed": "True when the value was missing and the missing-data policy (or, for a churned account's "
            "order-based indicators, the churn rule: 0) supplied normalized",
            "base_weight": "The profile's global weight of the indicator",
            "weight": "Effective weight after missing-data re-weighting (sums to 1 per account)",
            "contribution": "Points of the 0-100 score: 100 x weight x normalized",
        },
    ),
    "indicator_weights": (
        "Indicator weights per profile: final global weight and its parts",
        {
            "indicator": "Indicator id from the scoring model",
            "group": "Indicator group (perspective)",
            "method": "Weight method used inside the group",
            "group_method": "Weight method used between the groups",
            "group_weight": "Weight of the group",
            "weight_in_group": "Final weight of the indicator inside its group",
            "subjective_weight": "Subjective (expert/AHP/fixed) weight inside the group, when used",
            "objective_weight": "Objective (entropy/CRITIC) weight inside the group, when used",
            "weight": "Final global weight = group_weight x weight_in_group; sums to 1 per profile",
        },
    ),
    "weight_consistency": (
        "AHP pairwise comparison matrices with their consistency check",
        {
            "matrix_name": "Which level: 'groups' or 'indicators:<group>'",
            "n": "Matrix order",
            "items": "Row/column items, JSON list",
            "matrix": "Pairwise comparison matrix, JSON",
            "weights": "Priority vector in item order, JSON",
            "method": "eigenvector or geometric",
            "lambda_max": "Principal eigenvalue",
            "ci": "Consistency index (lambda_max - n) / (n - 1)",
            "random_index": "Saaty random index RI(n)",
            "cr": "Consistency ratio CI / RI",
            "accepted": "True when CR <= 0.10 (or the model allows inconsistency)",
        },
    ),
    "manager_scores": (
        "Account manager balanced scorecard: book indicators, KPI attainment, score, sub-scores, rank, grade",
        {
            "score": "Manager scorecard score 0-100 (the model's managers section)",
            "peer_group": "Whom the manager was compared with: 'portfolio' (all scored managers, one group)",
            "peer_count": "Scored managers in peer_group; below min_peers relative indicators rest on few peers",
        },
    ),
    "team_scores": (
        "Team scores: book-revenue-weighted means of the team's managers' scores and sub-scores",
        {
            "managers_scored": "Managers of the team with a score",
            "score": "Book-revenue-weighted mean of the managers' scores, 0-100",
            "peer_group": "Peer group of the manager scores the team score aggregates: 'portfolio'",
            "peer_count": "Scored managers in that peer group (teams are not normalised among teams)",
        },
    ),
    "book_indicators": (
        "Book of business per manager (level 'manager') and team (level 'team'): scorecard and KPI inputs",
        {"feedback_count": "360 feedback ratings in C"},
    ),
    "kpi_attainment": (
        "Every KPI against its target, per account, manager and team",
        {
            "kpi": "KPI (an indicator with a target in the model)",
            "direction": "higher or lower is better",
            "value": "The entity's value of the KPI",
            "target": "Target from the model (an account's profile, or the managers' targets)",
            "attainment": "value / target (higher is better) or target / value (lower is better)",
            "met": "True when the value reaches the target",
        },
    ),
    "manager_score_contributions": (
        "Every manager score explained: indicator value, normalised value, effective weight and points",
        {
            "indicator": "Indicator id from the managers scorecard",
            "group": "Scorecard perspective",
            "value": "Raw indicator value",
            "normalized": "Normalised value 0-1 (direction applied); policy value when imputed",
            "imputed": "True when the value was missing and the missing-data policy supplied normalized",
            "base_weight": "The scorecard's global weight of the indicator",
            "weight": "Effective weight after missing-data re-weighting (sums to 1 per manager)",
            "contribution": "Points of the 0-100 score: 100 x weight x normalized",
        },
    ),
    "score_alerts": (
        "Alerts raised on the as-of date: score drops, grade drops and newly churned accounts (model 'alerts')",
        {
            "is_key_account": "True when the account is a key account on the as-of date",
            "rule": "Which alert rule fired: score_drop, grade_drop or became_churned",
            "previous_as_of_date": "As-of date of the previous stored snapshot the alert compares with",
            "previous_score": "Score in the previous stored snapshot",
            "score_change": "score - previous_score (points)",
            "previous_grade": "Grade in the previous stored snapshot",
            "driver_indicator": "Indicator whose contribution to the score fell the most since the previous snapshot",
            "driver_change": "Change of that indicator's contribution (points of the 0-100 score, negative)",
            "driver_previous_value": "Raw value of the driver indicator in the previous snapshot",
            "driver_value": "Raw value of the driver indicator on the as-of date",
            "reason": "Why the alert fired, in words (English; the report translates it)",
            "change_breakdown": "The score change split by marts.score_changes: the three largest value "
            "effects and the re-weighting (sum of weight effects), in points",
        },
    ),
    "score_changes": (
        "Why each score moved since the previous stored snapshot: every indicator's change of points, split "
        "into the effect of its value and the effect of re-weighting (accounts scored on both dates)",
        {
            "indicator": "Indicator id from the scoring model",
            "group": "Indicator group (perspective)",
            "previous_as_of_date": "As-of date of the previous stored snapshot compared with",
            "previous_value": "Raw indicator value in the previous snapshot",
            "value": "Raw indicator value on the as-of date",
            "previous_normalized": "Normalised value n_prev 0-1 in the previous snapshot (0 when absent there)",
            "normalized": "Normalised value n 0-1 on the as-of date (0 when absent)",
            "previous_weight": "Effective weight w_prev in the previous snapshot (0 when absent there)",
            "weight": "Effective weight w on the as-of date (0 when absent)",
            "previous_contribution": "Points of the indicator in the previous snapshot (0 when absent there)",
            "contribution": "Points of the indicator on the as-of date (0 when absent)",
            "delta": "contribution - previous_contribution; an account's deltas add up to its score_change",
            "value_effect": "100 x w_prev x (n - n_prev): points from the indicator's own movement",
            "weight_effect": "100 x (w - w_prev) x n: points from re-weighting; value_effect + weight_effect = delta",
        },
    ),
    "score_backtest": (
        "Did the score predict churn: per stored snapshot D and horizon h, the accounts not churned at D, those "
        "churned at the first snapshot on or after D + h, the AUC and the quintile churn rates",
        {
            "as_of_date": "Snapshot D whose scores are tested",
            "horizon_days": "Horizon h in days (the model's backtest.horizons_days)",
            "followed_as_of_date": "First stored snapshot on or after D + h, where churn is read",
            "accounts": "Accounts scored and not churned at D, present at followed_as_of_date",
            "churned_accounts": "Of them, accounts churned at followed_as_of_date",
            "churn_rate": "churned_accounts / accounts",
            "auc": "P(score of a retained account > score of a churned one) + 1/2 P(tie); 0.5 = no better than "
            "chance; NULL without both retained and churned accounts",
            "bottom_quintile_churn_rate": "Churn rate of the fifth of accounts with the lowest scores at D",
            "top_quintile_churn_rate": "Churn rate of the fifth of accounts with the highest scores at D",
        },
    ),
    "account_obstacles": (
        "Obstacle degree of every indicator of every account: its share of the points the score misses",
        {
            "indicator": "Indicator id from the scoring model",
            "group": "Indicator group (perspective)",
            "normalized": "Normalised value n 0-1 (direction applied; policy value when imputed)",
            "weight": "Effective weight w (score_contributions.weight)",
            "points_lost": "100 x w x (1 - n): points of the 0-100 score the indicator misses",
            "obstacle_degree": "w x (1 - n) / sum of w x (1 - n) over the account's indicators; sums to 1 per "
            "account (NULL when the account misses no point)",
            "obstacle_rank": "Rank of the obstacle within the account, 1 = largest (NULL when it misses no point)",
        },
    ),
}


def column_comment(table: str, column: str | None) -> str:
    """Return the description of `marts.<table>` (column None) or of one of its columns; '' if unknown."""
    description, columns = _TABLES.get(table, ("", {}))
    if column is None:
        return description
    if column in columns:
        return columns[column]
    if column in _COMMON:
        return _COMMON[column]
    if column.endswith("_score") and table in ("account_scores", "manager_scores", "team_scores"):
        return f"Sub-score 0-100 of the indicator group '{column.removesuffix('_score')}'"
    return ""


def tables() -> list[str]:
    """Return the names of the described marts tables."""
    return list(_TABLES)
