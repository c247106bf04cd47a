-- marts.account_indicators: one row per account at the as-of date D = $as_of, raw indicator values (INDICATORS.md).
-- Windows on dates: C = [D - W, D), P = [D - 2W, D - W), W = $window_days; nothing dated on or after D is read, so backfills reproduce.
-- Snapshot = accounts with since <= D; an account without any activity still gets a row (counts 0, ratios NULL).
-- Returned lines count -abs(net_amount) (and -abs(cost_amount)) whatever sign the file used; cancelled lines are ignored everywhere.
-- gross_margin uses only C lines that carry cost_amount, so lines without cost data neither inflate nor deflate it.
-- Ratios with a zero or missing denominator are NULL (revenue_growth, revenue_retention, avg_order_value, complaint_rate, ...).
-- active_month_ratio divides by the calendar months that overlap C (13 for most 365-day windows, 12 when D is the 1st).
-- is_churned: had revenue in P or a completed line before C, and no completed line in [D - $churn_days, D).
-- Wallet is prorated by the days of C in each calendar year; missing years are filled by scaling the available years up to W days.
-- market_year (also output) = the calendar year holding most days of C (ties -> the later year); market growth compares it with the year before.
-- Complaints: C as timestamps [D - W 00:00, D 00:00); a complaint resolved at or after D 00:00 is still open at D.
-- Invoices issued in C; one paid on or after D counts as unpaid at D, and is late when its due date is before D.
-- Non-integer doubles are summed as decimal(38, 12): exact, so the result does not depend on the order
-- DuckDB's parallel aggregation adds them in (identical inputs give byte-identical marts).

with

accounts as (
    select * from staging.accounts
),

managers as (
    select * from staging.managers
),

orders as not materialized (
    select * from staging.orders
),

surveys as (
    select * from staging.surveys
),

complaints as (
    select * from staging.complaints
),

wallet as (
    select * from staging.wallet
),

market as (
    select * from staging.market
),

invoices as (
    select * from staging.invoices
),

bounds as (
    select
        $as_of::date as as_of_date,
        $window_days::integer as window_days,
        $as_of::date - $window_days::integer as current_start,
        $as_of::date - 2 * $window_days::integer as previous_start,
        $as_of::date - $churn_days::integer as churn_start
),

snapshot_accounts as (
    select
        accounts.account_id,
        accounts.account_name,
        accounts.segment,
        accounts.industry,
        accounts.region,
        accounts.manager_id,
        managers.team_id,
        accounts.since
    from accounts
    cross join bounds
    left join managers
        on accounts.manager_id = managers.manager_id
    where accounts.since <= bounds.as_of_date
),

order_lines as not materialized (
    select
        orders.account_id,
        orders.order_id,
        orders.order_date,
        orders.product_category,
        orders.status,
        case
            when orders.status = 'returned' then -abs(orders.net_amount)
            else orders.net_amount
        end as signed_net,
        case
            when orders.status = 'returned' then -abs(orders.cost_amount)
            else orders.cost_amount
        end as signed_cost,
        orders.order_date >= bounds.current_start as in_current,
        orders.order_date >= bounds.previous_start
            and orders.order_date < bounds.current_start as in_previous,
        orders.order_date < bounds.current_start as before_current,
        orders.order_date >= bounds.churn_start as in_churn_window
    from orders
    cross join bounds
    where orders.status in ('completed', 'returned')
        and orders.order_date < bounds.as_of_date
),

order_sums as (
    select
        account_id,
        sum(signed_net) filter (where in_current) as revenue,
        sum(signed_net) filter (where in_previous) as revenue_prev,
        sum(signed_net) filter (where in_current and signed_cost is not null) as costed_net,
        sum(signed_cost) filter (where in_current and signed_cost is not null) as costed_cost,
        max(order_date) filter (where status = 'completed') as last_order_date,
        count(*) filter (where before_current and status = 'completed') > 0 as ordered_before_current,
        count(*) filter (where in_churn_window and status = 'completed') > 0 as ordered_recently
    from order_lines
    group by account_id
),

order_counts as (
    -- The distinct counts on their own, over C's completed lines only: a FILTER clause on a
    -- DISTINCT aggregate would hash every line of C and P (it was most of this query's time).
    select
        account_id,
        count(distinct order_id) as order_count,
        count(distinct product_category) as product_breadth,
        count(distinct date_trunc('month', order_date)) as active_months
    from order_lines
    where in_current and status = 'completed'
    group by account_id
),

order_stats as (
    select order_sums.*, order_counts.* exclude (account_id)
    from order_sums
    left join order_counts
        on order_sums.account_id = order_counts.account_id
),

window_years as (
    -- Each calendar year overlapping C, with the days of C it holds and its own length (365 or 366).
    select
        years.year,
        date_diff(
            'day',
            greatest(bounds.current_start, make_date(years.year, 1, 1)),
            least(bounds.as_of_date, make_date(years.year + 1, 1, 1))
        ) as days_in_window,
        date_diff('day', make_date(years.year, 1, 1), make_date(years.year + 1, 1, 1)) as days_in_year
    from bounds
    cross join generate_series(year(bounds.current_start), year(bounds.as_of_date - 1)) as years (year)
),

account_wallet as (
    -- With every year present, the scale factor W / sum(days_in_window) is exactly 1.
    select
        wallet.account_id,
        cast(sum(cast(wallet.wallet_amount * window_years.days_in_window / window_years.days_in_year as decimal(38, 12)))
            as double) * max(bounds.window_days) / sum(window_years.days_in_window) as wallet_amount_window
    from wallet
    inner join window_years
        on wallet.year = window_years.year
    cross join bounds
    group by wallet.account_id
),

market_year as (
    select cast(window_years.year as integer) as market_year
    from window_years
    order by window_years.days_in_window desc, window_years.year desc
    limit 1
),

market_growth as (
    select
        market.industry,
        market.region,
        sum(cast(market.market_size as decimal(38, 12))) filter (where market.year = market_year.market_year)
            / nullif(sum(cast(market.market_size as decimal(38, 12))) filter (where market.year = market_year.market_year - 1), 0)
            - 1 as market_growth
    from market
    cross join market_year
    group by market.industry, market.region
),

survey_stats as (
    select
        surveys.account_id,
        count(*) as survey_count,
        (avg(cast(surveys.overall as decimal(38, 12))) - 1) / 4 * 100 as csat,
        (avg(cast(surveys.product_quality as decimal(38, 12))) - 1) / 4 * 100 as product_quality,
        (avg(cast(surveys.service_quality as decimal(38, 12))) - 1) / 4 * 100 as service_quality,
        (avg(cast(surveys.price_value as decimal(38, 12))) - 1) / 4 * 100 as price_value,
        (avg(cast(surveys.responsiveness as decimal(38, 12))) - 1) / 4 * 100 as responsiveness,
        100.0 * (
            count(*) filter (where surveys.recommend >= 9)
            - count(*) filter (where surveys.recommend <= 6)
        ) / nullif(count(surveys.recommend), 0) as nps
    from surveys
    cross join bounds
    where surveys.responded_on >= bounds.current_start
        and surveys.responded_on < bounds.as_of_date
    group by surveys.account_id
),

complaints_in_window as (
    select
        complaints.account_id,
        coalesce(complaints.resolved_at < bounds.as_of_date::timestamp, false) as is_resolved,
        epoch(complaints.resolved_at - complaints.opened_at) / 3600.0 as resolution_hours,
        epoch(bounds.as_of_date::timestamp - complaints.opened_at) / 3600.0 as open_hours,
        case complaints.severity
            when 'low' then $sla_low_hours::double
            when 'medium' then $sla_medium_hours::double
            when 'high' then $sla_high_hours::double
            when 'critical' then $sla_critical_hours::double
        end as sla_hours
    from complaints
    cross join bounds
    where complaints.opened_at >= bounds.current_start::timestamp
        and complaints.opened_at < bounds.as_of_date::timestamp
),

complaint_stats as (
    select
        account_id,
        count(*) as complaint_count,
        avg(cast(resolution_hours as decimal(38, 12))) filter (where is_resolved) as avg_resolution_hours,
        count(*) filter (
            where (is_resolved and resolution_hours > sla_hours)
                or (not is_resolved and open_hours > sla_hours)
        ) as breached_count,
        count(*) filter (where not is_resolved) as open_complaints
    from complaints_in_window
    group by account_id
),

invoices_in_window as (
    select
        invoices.account_id,
        invoices.amount,
        (invoices.paid_on is not null
            and invoices.paid_on < bounds.as_of_date
            and invoices.paid_on > invoices.due_on)
        or ((invoices.paid_on is null or invoices.paid_on >= bounds.as_of_date)
            and invoices.due_on < bounds.as_of_date) as is_late,
        greatest(
            0,
            date_diff(
                'day',
                invoices.due_on,
                case when invoices.paid_on < bounds.as_of_date then invoices.paid_on else bounds.as_of_date end
            )
        ) as days_late
    from invoices
    cross join bounds
    where invoices.issued_on >= bounds.current_start
        and invoices.issued_on < bounds.as_of_date
),

invoice_stats as (
    select
        account_id,
        count(*) as invoice_count,
        cast(sum(case when is_late then amount else 0 end) as double)
            / nullif(cast(sum(amount) as double), 0) as overdue_ratio,
        avg(cast(days_late as double)) as avg_days_late
    from invoices_in_window
    group by account_id
),

account_orders as (
    select
        snapshot_accounts.account_id,
        coalesce(order_stats.revenue, 0) as revenue,
        coalesce(order_stats.revenue_prev, 0) as revenue_prev,
        cast(order_stats.costed_net - order_stats.costed_cost as double)
            / nullif(cast(order_stats.costed_net as double), 0) as gross_margin,
        coalesce(order_stats.order_count, 0) as order_count,
        coalesce(order_stats.product_breadth, 0) as product_breadth,
        coalesce(order_stats.active_months, 0) as active_months,
        order_stats.last_order_date,
        coalesce(order_stats.ordered_before_current, false) as ordered_before_current,
        coalesce(order_stats.ordered_recently, false) as ordered_recently
    from snapshot_accounts
    left join order_stats
        on snapshot_accounts.account_id = order_stats.account_id
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
        cast(complaint_stats.breached_count as double)
            / nullif(complaint_stats.complaint_count, 0) as sla_breach_rate,
        coalesce(complaint_stats.open_complaints, 0) as open_complaints,
        coalesce(invoice_stats.invoice_count, 0) as invoice_count,
        invoice_stats.overdue_ratio,
        invoice_stats.avg_days_late
    from snapshot_accounts
    cross join bounds
    left join market_year
        on true
    inner join account_orders
        on snapshot_accounts.account_id = account_orders.account_id
    left join account_wallet
        on snapshot_accounts.account_id = account_wallet.account_id
    left join market_growth
        on snapshot_accounts.industry = market_growth.industry
        and snapshot_accounts.region = market_growth.region
    left join survey_stats
        on snapshot_accounts.account_id = survey_stats.account_id
    left join complaint_stats
        on snapshot_accounts.account_id = complaint_stats.account_id
    left join invoice_stats
        on snapshot_accounts.account_id = invoice_stats.account_id
)

select * from final
