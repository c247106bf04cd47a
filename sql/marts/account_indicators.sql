-- marts.account_indicators: one row per account and as-of date D in $as_of_dates, raw indicator values (INDICATORS.md).
-- Windows on dates: C = [D - W, D), P = [D - 2W, D - W), W = $window_days; nothing dated on or after D is read, so backfills reproduce.
-- Snapshot = accounts with since <= D; an account without any activity still gets a row (counts 0, ratios NULL).
-- The figures of each source come from the intermediate models of the same dates (sql/intermediate/, one per table):
-- orders (account_order_figures), invoices (account_invoice_figures), surveys (account_survey_figures), complaints
-- (account_complaint_figures), wallet (account_wallet_figures), market (market_growth) and the calendar years of C
-- (window_years); this file joins them and derives the indicators that combine sources.
-- Ratios with a zero or missing denominator are NULL (revenue_growth, revenue_retention, avg_order_value, complaint_rate, ...).
-- active_month_ratio divides by the calendar months that overlap C (13 for most 365-day windows, 12 when D is the 1st).
-- is_churned: had revenue in P or a completed line before C, and no completed line in [D - $churn_days, D).
-- market_year (also output) = the calendar year holding most days of C (ties -> the later year); market growth compares it with the year before.
-- lifecycle_stage, first_order_date, days_to_first_order, acquisition_cost and payback come from marts.account_lifecycle.

with

accounts as (
    select * from staging.accounts
),

managers as (
    select * from staging.managers
),

bounds as (
    select
        dates.as_of_date,
        $window_days::integer as window_days,
        dates.as_of_date - $window_days::integer as current_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

snapshot_accounts as (
    select
        bounds.as_of_date,
        accounts.account_id,
        accounts.account_name,
        accounts.segment,
        accounts.industry,
        accounts.region,
        accounts.manager_id,
        managers.team_id,
        accounts.since
    from accounts
    inner join bounds
        on accounts.since <= bounds.as_of_date
    left join managers
        on accounts.manager_id = managers.manager_id
),

market_year as (
    select as_of_date, cast(year as integer) as market_year
    from intermediate.window_years
    where is_market_year
),

account_orders as (
    select * from intermediate.account_order_figures
),

account_invoices as (
    select * from intermediate.account_invoice_figures
),

account_wallet as (
    select * from intermediate.account_wallet_figures
),

market_growth as (
    select * from intermediate.market_growth
),

survey_stats as (
    select * from intermediate.account_survey_figures
),

complaint_stats as (
    select * from intermediate.account_complaint_figures
),

final as (
    select
        bounds.as_of_date,
        snapshot_accounts.account_id,
        snapshot_accounts.account_name,
        snapshot_accounts.segment,
        snapshot_accounts.industry,
        snapshot_accounts.region,
        snapshot_accounts.manager_id,
        snapshot_accounts.team_id,
        bounds.window_days,
        account_orders.revenue,
        account_orders.revenue_prev,
        cast(account_orders.revenue - account_orders.revenue_prev as double)
            / nullif(cast(account_orders.revenue_prev as double), 0) as revenue_growth,
        account_orders.gross_margin,
        account_orders.order_count,
        cast(account_orders.revenue as double)
            / nullif(account_orders.order_count, 0) as avg_order_value,
        account_orders.order_count / (bounds.window_days / 30.0) as order_frequency,
        account_orders.product_breadth,
        account_orders.active_months
            / cast(date_diff('month', bounds.current_start, bounds.as_of_date - 1) + 1 as double)
            as active_month_ratio,
        date_diff('day', account_orders.last_order_date, bounds.as_of_date) as recency_days,
        account_orders.last_order_date,
        date_diff('day', snapshot_accounts.since, bounds.as_of_date) / 365.25 as tenure_years,
        cast(
            case
                when (account_orders.revenue_prev > 0 or account_orders.ordered_before_current)
                    and not account_orders.ordered_recently then 1
                else 0
            end as integer
        ) as is_churned,
        -- least() skips NULLs, so P = 0 needs its own branch to stay NULL.
        case
            when account_orders.revenue_prev <> 0 then least(
                cast(account_orders.revenue as double) / cast(account_orders.revenue_prev as double),
                $retention_cap::double
            )
        end as revenue_retention,
        cast(account_orders.revenue as double)
            / nullif(account_wallet.wallet_amount_window, 0) as share_of_wallet,
        account_wallet.wallet_amount_window,
        market_year.market_year,
        market_growth.market_growth,
        cast(account_orders.revenue - account_orders.revenue_prev as double)
            / nullif(cast(account_orders.revenue_prev as double), 0)
            - market_growth.market_growth as market_growth_gap,
        survey_stats.csat,
        survey_stats.product_quality,
        survey_stats.service_quality,
        survey_stats.price_value,
        survey_stats.responsiveness,
        survey_stats.nps,
        coalesce(survey_stats.survey_count, 0) as survey_count,
        coalesce(complaint_stats.complaint_count, 0) as complaint_count,
        coalesce(complaint_stats.complaint_count, 0) * 100.0
            / nullif(account_orders.order_count, 0) as complaint_rate,
        complaint_stats.avg_resolution_hours,
        complaint_stats.sla_breach_rate,
        coalesce(complaint_stats.open_complaints, 0) as open_complaints,
        account_invoices.invoice_count,
        account_invoices.overdue_ratio,
        account_invoices.avg_days_late,
        -- The lifecycle comes from marts.account_lifecycle. The yardstick of new accounts counts from their
        -- first order (or the start of C, whichever is later): orders and revenue per 30 days since then, over
        -- at least 30 days, so an account first served yesterday is not credited a month's pace for one order.
        account_lifecycle.lifecycle_stage,
        account_lifecycle.first_order_date,
        account_lifecycle.days_to_first_order,
        account_orders.order_count / (greatest(30, date_diff(
            'day', greatest(account_lifecycle.first_order_date, bounds.current_start), bounds.as_of_date
        )) / 30.0) as order_frequency_since_first,
        cast(account_orders.revenue as double) / (greatest(30, date_diff(
            'day', greatest(account_lifecycle.first_order_date, bounds.current_start), bounds.as_of_date
        )) / 30.0) as monthly_revenue_since_first,
        cast(account_lifecycle.acquisition_cost as double) as acquisition_cost,
        account_lifecycle.payback
    from snapshot_accounts
    inner join bounds
        on snapshot_accounts.as_of_date = bounds.as_of_date
    left join market_year
        on snapshot_accounts.as_of_date = market_year.as_of_date
    inner join account_orders
        on snapshot_accounts.as_of_date = account_orders.as_of_date
        and snapshot_accounts.account_id = account_orders.account_id
    inner join account_invoices
        on snapshot_accounts.as_of_date = account_invoices.as_of_date
        and snapshot_accounts.account_id = account_invoices.account_id
    left join account_wallet
        on snapshot_accounts.as_of_date = account_wallet.as_of_date
        and snapshot_accounts.account_id = account_wallet.account_id
    left join market_growth
        on snapshot_accounts.as_of_date = market_growth.as_of_date
        and snapshot_accounts.industry = market_growth.industry
        and snapshot_accounts.region = market_growth.region
    left join survey_stats
        on snapshot_accounts.as_of_date = survey_stats.as_of_date
        and snapshot_accounts.account_id = survey_stats.account_id
    left join complaint_stats
        on snapshot_accounts.as_of_date = complaint_stats.as_of_date
        and snapshot_accounts.account_id = complaint_stats.account_id
    left join marts.account_lifecycle as account_lifecycle
        on snapshot_accounts.as_of_date = account_lifecycle.as_of_date
        and snapshot_accounts.account_id = account_lifecycle.account_id
)

select * from final
