-- marts.manager_indicators: one row per staging.managers row at every as-of date D of $as_of_dates, even for a
-- manager without accounts (one query computes a whole backfill range).
-- Account figures come from the marts.account_indicators snapshot of D (so it must be built first), grouped by its manager_id.
-- Retention base = the manager's accounts with revenue_prev > 0; nrr, grr and logo_retention are NULL when it is empty.
-- feedback_score: 360 feedback with reviewed_on in C = [D - W, D); mean per reviewer_role, then the plain mean of the roles
-- present (each role weighs the same however many reviews it has), rescaled (x - 1) / 4 * 100.
-- Non-integer doubles are summed as decimal(38, 12): exact, so the result does not depend on the order
-- DuckDB's parallel aggregation adds them in (identical inputs give byte-identical marts).

with

managers as (
    select * from staging.managers
),

account_indicators as (
    select * from marts.account_indicators
),

feedback as (
    select * from staging.feedback
),

bounds as (
    select
        dates.as_of_date,
        dates.as_of_date - $window_days::integer as current_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

manager_accounts as (
    select
        account_indicators.as_of_date,
        account_indicators.manager_id,
        count(*) as account_count,
        sum(account_indicators.revenue) as revenue,
        sum(account_indicators.revenue_prev) as revenue_prev,
        count(*) filter (where account_indicators.revenue_prev > 0) as base_accounts,
        count(*) filter (
            where account_indicators.revenue_prev > 0 and account_indicators.revenue > 0
        ) as retained_accounts,
        sum(account_indicators.revenue) filter (where account_indicators.revenue_prev > 0) as base_revenue,
        sum(account_indicators.revenue_prev) filter (where account_indicators.revenue_prev > 0) as base_revenue_prev,
        sum(least(account_indicators.revenue, account_indicators.revenue_prev)) filter (
            where account_indicators.revenue_prev > 0
        ) as base_revenue_kept,
        sum(account_indicators.is_churned) as churned_accounts
    from account_indicators
    where list_contains($as_of_dates::date[], account_indicators.as_of_date)
        and account_indicators.as_of_date between list_min($as_of_dates::date[]) and list_max($as_of_dates::date[])
    group by account_indicators.as_of_date, account_indicators.manager_id
),

feedback_by_role as (
    select
        bounds.as_of_date,
        feedback.manager_id,
        feedback.reviewer_role,
        avg(cast(feedback.score as decimal(38, 12))) as role_score,
        count(*) as review_count
    from feedback
    inner join bounds
        on feedback.reviewed_on >= bounds.current_start
        and feedback.reviewed_on < bounds.as_of_date
    where feedback.reviewed_on >= list_min($as_of_dates::date[]) - $window_days::integer
        and feedback.reviewed_on < list_max($as_of_dates::date[])
    group by bounds.as_of_date, feedback.manager_id, feedback.reviewer_role
),

manager_feedback as (
    select
        as_of_date,
        manager_id,
        (avg(cast(role_score as decimal(38, 12))) - 1) / 4 * 100 as feedback_score,
        sum(review_count) as feedback_count,
        count(*) as feedback_roles
    from feedback_by_role
    group by as_of_date, manager_id
),

final as (
    select
        bounds.as_of_date,
        managers.manager_id,
        managers.manager_name,
        managers.team_id,
        managers.team_name,
        coalesce(manager_accounts.account_count, 0) as account_count,
        coalesce(manager_accounts.revenue, 0) as revenue,
        coalesce(manager_accounts.revenue_prev, 0) as revenue_prev,
        cast(manager_accounts.revenue - manager_accounts.revenue_prev as double)
            / nullif(cast(manager_accounts.revenue_prev as double), 0) as revenue_growth,
        cast(manager_accounts.base_revenue as double)
            / nullif(cast(manager_accounts.base_revenue_prev as double), 0) as nrr,
        cast(manager_accounts.base_revenue_kept as double)
            / nullif(cast(manager_accounts.base_revenue_prev as double), 0) as grr,
        cast(manager_accounts.retained_accounts as double)
            / nullif(manager_accounts.base_accounts, 0) as logo_retention,
        cast(coalesce(manager_accounts.churned_accounts, 0) as bigint) as churned_accounts,
        manager_feedback.feedback_score,
        cast(coalesce(manager_feedback.feedback_count, 0) as bigint) as feedback_count,
        coalesce(manager_feedback.feedback_roles, 0) as feedback_roles
    from managers
    cross join bounds
    left join manager_accounts
        on bounds.as_of_date = manager_accounts.as_of_date
        and managers.manager_id = manager_accounts.manager_id
    left join manager_feedback
        on bounds.as_of_date = manager_feedback.as_of_date
        and managers.manager_id = manager_feedback.manager_id
)

select * from final
