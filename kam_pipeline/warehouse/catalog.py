"""Descriptions of every `marts` table and column, applied as DuckDB COMMENTs for BI tools.

Indicator columns (what a scoring model may score) are described once, in the indicator
registry (scoring/indicators.yaml); this module holds every other column.
"""

from __future__ import annotations

from kam_pipeline.scoring.indicators import LEVEL_TABLES, indicator

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
    "revenue_prev": "Signed net revenue in the previous window P (currency)",
    "profile": "Scoring profile (weights and targets) the account was scored with",
    "score": "Weighted score 0-100",
    "rank": "Rank by score within the snapshot, 1 = best",
    "grade": "Grade from the model's grade bands, or insufficient_data",
    "churned_accounts": "Accounts flagged is_churned",
    "subject": "What was scored: 'account' or 'manager' (the manager scorecard)",
    "level": "account, manager or team",
    "entity_id": "account_id, manager_id or team_id, by level",
    "kpis_met": "KPIs at or beyond their target",
    "kpis_evaluated": "KPIs with a value",
    "manager_count": "Managers in the team (1 on manager rows)",
    "accounts_scored": "Accounts with a score in the book",
    "key_accounts": "Key accounts in the book",
    "avg_completeness": "Mean completeness of the book's account scores",
    "completeness": "Share (0-1) of the scoring weight backed by real indicator values",
    "model_version": "Version of the scoring model that computed the row: the first 12 hex digits of the "
    "SHA-256 of its canonical content (kam compare scores a date with another model)",
}

# The lifecycle stages of marts.account_lifecycle (a profile may select accounts by them) and the revenue
# bridge buckets (INDICATORS.md, Lifecycle).
LIFECYCLE_STAGES = ("new", "reactivated", "retained", "churned", "dormant", "prospect")
BRIDGE_BUCKETS = ("new", "reactivated", "expansion", "contraction", "churned", "other")

# Lifecycle columns (INDICATORS.md, Lifecycle), shared by account_lifecycle and account_indicators
# (days_to_first_order, acquisition_cost and payback are indicators: the registry describes them).
_LIFECYCLE = {
    "lifecycle_stage": "new (first completed order in C), reactivated (completed before P and in C, none in P), "
    "retained (in P and C), churned (in P, none in C), dormant (none in P or C, but earlier) or prospect (never)",
    "first_order_date": "Date of the first completed order before D",
}

# Lifecycle counts of portfolio_kpis and book_indicators (new_accounts, new_revenue_share and
# new_key_accounts are book indicators: the registry describes them).
_STAGE_COUNTS = {"reactivated_accounts": "Accounts whose lifecycle stage is reactivated"}

_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "account_indicators": (
        "Raw indicator values per account and as-of date (each column's formula is in its description)",
        {
            "last_order_date": "Date of the last completed order before D",
            "is_churned": "1 if the account bought before (revenue in P or any order before C) and not in the last churn_days",
            "wallet_amount_window": "Wallet estimate prorated to the window C (currency)",
            "market_year": "Calendar year holding most days of C, used for market data",
            "market_growth": "Growth of the account's (industry, region) market from market_year - 1 to market_year",
            "survey_count": "Survey responses in C",
            "complaint_count": "Complaints opened in C",
            "open_complaints": "Complaints opened in C and not resolved at D",
            "invoice_count": "Invoices issued in C",
            **_LIFECYCLE,
        },
    ),
    "account_lifecycle": (
        "Lifecycle stage of every account per as-of date, from completed order lines, and its revenue bridge bucket",
        {
            **_LIFECYCLE,
            "ordered_in_c": "True when the account has a completed line in C",
            "ordered_in_p": "True when the account has a completed line in P",
            "revenue_c": "Signed net revenue in C (equals account_indicators.revenue; currency)",
            "revenue_p": "Signed net revenue in P (equals account_indicators.revenue_prev; currency)",
            "revenue_change": "revenue_c - revenue_p (currency)",
            "bridge_bucket": "Revenue bridge bucket of revenue_change: new, reactivated or churned by stage; "
            "retained -> expansion (change >= 0) or contraction (< 0); prospect and dormant -> other",
            "acquired_on": "Date the account was acquired (acquisition source), when before D",
        },
    ),
    "revenue_bridge": (
        "Revenue bridge from P to C per level ('all', segment, manager, team): "
        "revenue_prev + new + reactivated + expansion + contraction + churned + other = revenue",
        {
            "level": "all (the portfolio), segment, manager or team",
            "entity_id": "'all', the segment, manager_id or team_id, by level",
            "new": "Revenue change of new accounts (first completed order in C): their revenue in C (currency)",
            "reactivated": "Revenue change of reactivated accounts (ordered before P and in C, not in P) (currency)",
            "expansion": "Revenue change of retained accounts whose revenue grew or held (>= 0; currency)",
            "contraction": "Revenue change of retained accounts whose revenue shrank (< 0; currency)",
            "churned": "Revenue change of churned accounts (ordered in P, not in C) (currency)",
            "other": "Revenue change of accounts without a completed line in P or C, e.g. returns only (currency)",
            "reactivated_accounts": "Accounts in the reactivated bucket",
            "expansion_accounts": "Accounts in the expansion bucket",
            "contraction_accounts": "Accounts in the contraction bucket",
            "churned_accounts": "Accounts in the churned bucket (lifecycle stage churned, not the is_churned flag)",
            "other_accounts": "Accounts in the other bucket",
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
            **_STAGE_COUNTS,
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
            "alpha_subjective": "Share of the subjective weights in the group's combined weights: alpha (linear) "
            "or the game-theory coefficient alpha*; NULL when not combined or multiplicative",
            "alpha_objective": "Share of the objective weights in the group's combined weights: 1 - alpha (linear) "
            "or the game-theory coefficient alpha*; NULL when not combined or multiplicative",
            "group_alpha_subjective": "alpha_subjective of the weights between the groups",
            "group_alpha_objective": "alpha_objective of the weights between the groups",
        },
    ),
    "weight_consistency": (
        "AHP pairwise comparison matrices with their consistency check",
        {
            "matrix_name": "Which level: 'groups' or 'indicators:<group>'; with several experts, each expert's own "
            "matrix under '<level>:<expert>' and their element-wise geometric mean under the level",
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
    "method_comparison": (
        "Every scored account ranked by the weighted sum, TOPSIS and grey relational analysis within its profile",
        {
            "score": "Weighted score 0-100 (as in account_scores)",
            "rank": "Rank by score within the profile, 1 = best",
            "topsis_closeness": "TOPSIS relative closeness 0-1 to the ideal: d- / (d+ + d-) over the profile's "
            "normalised values times the final weights",
            "topsis_rank": "Rank by topsis_closeness within the profile, 1 = best",
            "gra_grade": "Grey relational grade 0-1 (Deng) against the column maxima, weighted by the final weights",
            "gra_rank": "Rank by gra_grade within the profile, 1 = best",
        },
    ),
    "method_agreement": (
        "Per profile: how far TOPSIS and grey relational analysis agree with the weighted-sum ranking",
        {
            "accounts": "Scored accounts of the profile compared",
            "topsis_spearman": "Spearman rank correlation of topsis_closeness with score; NULL under 2 accounts "
            "or with a constant column",
            "topsis_kendall": "Kendall tau-b of topsis_closeness with score; NULL as for Spearman",
            "gra_spearman": "Spearman rank correlation of gra_grade with score; NULL as for TOPSIS",
            "gra_kendall": "Kendall tau-b of gra_grade with score; NULL as for TOPSIS",
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
        {
            "feedback_count": "360 feedback ratings in C",
            **_STAGE_COUNTS,
        },
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
    "weight_stability": (
        "How stable each indicator's weight is: its 5th and 95th percentiles over bootstrap resamples of the "
        "profile's accounts, objective weights recomputed on each (the model's stability draws and seed)",
        {
            "subject": "What was scored: 'account' (the manager scorecard has no bootstrap)",
            "indicator": "Indicator id from the scoring model",
            "group": "Indicator group (perspective)",
            "weight": "Final global weight of the real score (indicator_weights.weight)",
            "weight_p05": "5th percentile of the weight over the draws; not necessarily <= weight",
            "weight_p95": "95th percentile of the weight over the draws; not necessarily >= weight",
            "unstable": "True when weight_p95 - weight_p05 > 0.10, or > half the weight",
            "draws": "Bootstrap draws B (the model's stability.draws)",
            "accounts": "Accounts of the profile with a score",
        },
    ),
    "rank_stability": (
        "How stable each scored account's rank and grade are under the bootstrap of weight_stability: every "
        "draw scores all the profile's accounts with the draw's weights",
        {
            "score": "Weighted score 0-100 (as in account_scores)",
            "rank": "Rank by score within the profile, 1 = best (as in method_comparison)",
            "rank_p05": "5th percentile of the account's rank within the profile over the draws (1 = best)",
            "rank_p95": "95th percentile of the account's rank within the profile over the draws",
            "grade": "Grade of the real score (as in account_scores)",
            "grade_stability": "Share 0-1 of the draws in which the account keeps its grade",
            "draws": "Bootstrap draws B (the model's stability.draws)",
        },
    ),
}


# account_indicators holds the account level of the registry, book_indicators the book level.
_TABLE_LEVELS = {table: level for level, table in LEVEL_TABLES.items()}


def column_comment(table: str, column: str | None) -> str:
    """Return the description of `marts.<table>` (column None) or of one of its columns; '' if unknown."""
    description, columns = _TABLES.get(table, ("", {}))
    if column is None:
        return description
    if column in columns:
        return columns[column]
    if (entry := indicator(column)) is not None:
        return entry.describe(_TABLE_LEVELS.get(table))
    if column in _COMMON:
        return _COMMON[column]
    if column.endswith("_score") and table in ("account_scores", "manager_scores", "team_scores"):
        return f"Sub-score 0-100 of the indicator group '{column.removesuffix('_score')}'"
    return ""


def described_columns(table: str) -> set[str]:
    """Return the columns this module describes for `marts.<table>` itself (its own and the common ones)."""
    return set(_TABLES.get(table, ("", {}))[1]) | set(_COMMON)


def tables() -> list[str]:
    """Return the names of the described marts tables."""
    return list(_TABLES)
