-- marts.account_indicators: one row per account and as-of date D in $as_of_dates, raw indicator values (INDICATORS.md).
-- Windows on dates: C = [D - W, D), P = [D - 2W, D - W), W = $window_days; nothing dated on or after D is read, so backfills reproduce.
-- Snapshot = accounts with since <= D; an account without any activity still gets a row (counts 0, ratios NULL).
-- Returned lines count -abs(net_amount) (and -abs(cost_amount)) whatever sign the file used; cancelled lines are ignored.
-- gross_margin uses only C lines that carry cost_amount, so lines without cost data neither inflate nor deflate it.
-- Ratios with a zero or missing denominator are NULL (revenue_growth, revenue_retention, avg_order_value, complaint_rate, ...).
-- active_month_ratio divides by the calendar months that overlap C (13 for most 365-day windows, 12 when D is the 1st).
-- is_churned: had revenue in P or a completed line before C, and no completed line in [D - $churn_days, D).
-- Wallet is prorated by the days of C in each calendar year; missing years are filled by scaling the available years up to W days.
-- market_year (also output) = the calendar year holding most days of C (ties -> the later year); market growth compares it with the year before.
-- Complaints: C as timestamps [D - W 00:00, D 00:00); a complaint resolved at or after D 00:00 is still open at D.
-- avg_resolution_hours: mean over the complaints opened in C of (resolved_at, or D 00:00 while open) - opened_at;
-- sla_breach_rate: share of them whose hours so counted exceed the SLA of their severity.
-- Invoices issued in C; one paid on or after D counts as unpaid at D, and is late when its due date is before D.
-- Amounts are DECIMAL and non-integer doubles are summed as decimal(38, 12): exact, so the result does not depend on the
-- order DuckDB's parallel aggregation adds them in (identical inputs give byte-identical marts).
-- lifecycle_stage, first_order_date, days_to_first_order, acquisition_cost and payback come from marts.account_lifecycle.
--
-- Several as-of dates (a backfill from F to L) share one pass over orders and invoices. Each order or invoice
-- figure is a sum of terms that are each active on an interval of as-of dates: an order line dated d is in C
-- for D in [d + 1, d + W + 1). Every interval becomes +term where it starts and -term where it ends, and a
-- running sum per account read at each D gives the figure. A distinct count (orders, categories, months) counts
-- a key from each of its dates d to its next one n, for D in [d + 1, least(d + W, n) + 1). Starts before F
-- count from F and changes after L are left out, so with one as-of date nearly every term falls on F.

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

invoices as not materialized (
    select * from staging.invoices
),

bounds as (
    select
        dates.as_of_date,
        $window_days::integer as window_days,
        dates.as_of_date - $window_days::integer as current_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

date_range as (
    -- F and L, the first and last as-of dates. Filters on the source tables spell them out as
    -- list_min / list_max of the parameter instead: constants, so DuckDB skips row groups by date.
    select
        min(as_of_date) as first_date,
        max(as_of_date) as last_date,
        $window_days::integer as window_days
    from bounds
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
        end as signed_cost
    from orders
    where orders.status in ('completed', 'returned')
        and orders.order_date < list_max($as_of_dates::date[])
),

order_amounts as (
    -- One pass over the order history: a line dated d is in C from d + 1 and in P from d + W + 1 to
    -- d + 2W + 1. Lines are summed per account and per those dates, moved up to F, or NULL past L
    -- (they change no date of the range): with one as-of date, at most three rows per account.
    select
        order_lines.account_id,
        greatest(order_lines.order_date + 1, date_range.first_date) as enters_current,
        case
            when order_lines.order_date + date_range.window_days + 1 <= date_range.last_date
                then greatest(order_lines.order_date + date_range.window_days + 1, date_range.first_date)
        end as enters_previous,
        case
            when order_lines.order_date + 2 * date_range.window_days + 1 <= date_range.last_date
                then greatest(order_lines.order_date + 2 * date_range.window_days + 1, date_range.first_date)
        end as leaves_previous,
        sum(order_lines.signed_net) as net,
        sum(order_lines.signed_net) filter (where order_lines.signed_cost is not null) as costed_net,
        sum(order_lines.signed_cost) as costed_cost,
        min(order_lines.order_date) filter (where order_lines.status = 'completed') as first_completed,
        max(order_lines.order_date) filter (
            where order_lines.status = 'completed' and order_lines.order_date < date_range.first_date
        ) as last_completed_before
    from order_lines
    cross join date_range
    group by all
),

order_history as (
    -- The first completed line (churn needs one before C) and the last one before F.
    select
        account_id,
        min(first_completed) as first_completed,
        max(last_completed_before) as last_completed_before
    from order_amounts
    group by account_id
),

completed_lines as not materialized (
    -- The completed lines some C of the range holds: [F - W, L). One dated in [L - W, F) is in C at
    -- every date of the range, and so is its order, category and month ("held").
    select
        order_lines.account_id,
        order_lines.order_id,
        order_lines.product_category,
        strftime(order_lines.order_date, '%Y-%m') as order_month,
        order_lines.order_date,
        order_lines.order_date >= date_range.last_date - date_range.window_days
            and order_lines.order_date < date_range.first_date as held
    from order_lines
    cross join date_range
    where order_lines.status = 'completed'
        and order_lines.order_date >= list_min($as_of_dates::date[]) - $window_days::integer
),

key_states as (
    -- Per distinct-count key: an order, a category or a calendar month of an account. A key that is not
    -- held can enter or leave C within the range; with one as-of date every key is held.
    select account_id, 'order' as kind, order_id as key, bool_or(held) as held
    from completed_lines
    group by account_id, order_id
    union all
    select account_id, 'category', product_category, bool_or(held)
    from completed_lines
    where product_category is not null
    group by account_id, product_category
    union all
    select account_id, 'month', order_month, bool_or(held)
    from completed_lines
    group by account_id, order_month
),

moving_key_spans as (
    -- The keys that are not held have all their dates of [F - W, L) outside [L - W, F). Only a range
    -- has such keys: with one as-of date the condition on the parameter is false and DuckDB drops this.
    select
        key_dates.account_id,
        key_dates.kind,
        key_dates.order_date + 1 as span_start,
        least(
            key_dates.order_date + date_range.window_days,
            lead(key_dates.order_date) over (
                partition by key_dates.account_id, key_dates.kind, key_dates.key order by key_dates.order_date
            )
        ) + 1 as span_end
    from (
        select distinct lines.account_id, lines.kind, lines.key, lines.order_date
        from (
            select account_id, 'order' as kind, order_id as key, order_date from completed_lines where not held
            union all
            select account_id, 'category', product_category, order_date from completed_lines where not held
            union all
            select account_id, 'month', order_month, order_date from completed_lines where not held
        ) as lines
        semi join (select account_id, kind, key from key_states where not held) as moving
            on lines.account_id = moving.account_id
            and lines.kind = moving.kind
            and lines.key = moving.key
        where list_min($as_of_dates::date[]) < list_max($as_of_dates::date[])
    ) as key_dates
    cross join date_range
),

invoice_terms as (
    -- An invoice issued on i is in C from i + 1 to i + W + 1. It is late from due_on + 1 on, unless it
    -- was paid on or before its due date. Its days late at D are D - due_on from due_on + 1 until it is
    -- paid (paid_on + 1), then paid_on - due_on. Summed per account and per those dates, moved up to F
    -- (NULL past L) as for orders.
    select
        invoices.account_id,
        greatest(invoices.issued_on + 1, date_range.first_date) as enters_current,
        case
            when invoices.issued_on + date_range.window_days + 1 <= date_range.last_date
                then greatest(invoices.issued_on + date_range.window_days + 1, date_range.first_date)
        end as leaves_current,
        case
            when invoices.due_on + 1 <= date_range.last_date then greatest(invoices.due_on + 1, date_range.first_date)
        end as late_from,
        case
            when invoices.paid_on + 1 <= date_range.last_date then greatest(invoices.paid_on + 1, date_range.first_date)
        end as paid_from,
        invoices.paid_on is null or invoices.paid_on > invoices.due_on as late_unless_early,
        count(*) as invoices,
        sum(invoices.amount) as amount,
        sum(date_diff('day', date '1970-01-01', invoices.due_on)) as due_day_numbers,
        sum(greatest(0, date_diff('day', invoices.due_on, invoices.paid_on))) as days_late_when_paid
    from invoices
    cross join date_range
    where invoices.issued_on >= list_min($as_of_dates::date[]) - $window_days::integer
        and invoices.issued_on < list_max($as_of_dates::date[])
    group by all
),

intervals as (
    -- Every term of a running figure with the as-of dates [active_from, active_until) it is active on
    -- (active_until NULL: to the end of the range).
    select
        account_id, enters_current as active_from, enters_previous as active_until,
        net as revenue, null as revenue_prev, costed_net, costed_cost,
        null as order_count, null as product_breadth, null as active_months,
        null as invoice_count, null as invoice_amount, null as overdue_amount,
        null as late_invoices, null as late_due_day_numbers, null as days_late_when_paid
    from order_amounts
    union all
    select account_id, enters_previous, leaves_previous, null, net, null, null,
        null, null, null, null, null, null, null, null, null
    from order_amounts
    where enters_previous is not null
    union all
    select key_states.account_id, date_range.first_date, null, null, null, null, null,
        count(*) filter (where key_states.kind = 'order'),
        count(*) filter (where key_states.kind = 'category'),
        count(*) filter (where key_states.kind = 'month'),
        null, null, null, null, null, null
    from key_states
    cross join date_range
    where key_states.held
    group by key_states.account_id, date_range.first_date
    union all
    select account_id, span_start, span_end, null, null, null, null,
        case when kind = 'order' then 1 end,
        case when kind = 'category' then 1 end,
        case when kind = 'month' then 1 end,
        null, null, null, null, null, null
    from moving_key_spans
    union all
    select account_id, enters_current, leaves_current, null, null, null, null, null, null, null,
        invoices, amount, null, null, null, null
    from invoice_terms
    union all
    -- Late: in C and from due_on + 1 (both dates known, so NULL means after L).
    select account_id, greatest(enters_current, late_from), leaves_current, null, null, null, null, null, null, null,
        null, null, amount, null, null, null
    from invoice_terms
    where late_unless_early and late_from is not null
    union all
    -- Days late grow by one a day between due_on + 1 and paid_on + 1 ...
    select account_id, greatest(enters_current, late_from), least(leaves_current, paid_from),
        null, null, null, null, null, null, null, null, null, null,
        invoices, due_day_numbers, null
    from invoice_terms
    where late_from is not null
    union all
    -- ... and stay at paid_on - due_on after it.
    select account_id, greatest(enters_current, paid_from), leaves_current,
        null, null, null, null, null, null, null, null, null, null,
        null, null, days_late_when_paid
    from invoice_terms
    where paid_from is not null
),

events as (
    -- +term where an interval starts, -term where it ends; an empty interval adds nothing. Changes
    -- before F all count from F; those after L change no as-of date.
    select
        intervals.account_id,
        greatest(bounds_of.event_date, date_range.first_date) as event_date,
        bounds_of.sign * intervals.revenue as revenue,
        bounds_of.sign * intervals.revenue_prev as revenue_prev,
        bounds_of.sign * intervals.costed_net as costed_net,
        bounds_of.sign * intervals.costed_cost as costed_cost,
        bounds_of.sign * intervals.order_count as order_count,
        bounds_of.sign * intervals.product_breadth as product_breadth,
        bounds_of.sign * intervals.active_months as active_months,
        bounds_of.sign * intervals.invoice_count as invoice_count,
        bounds_of.sign * intervals.invoice_amount as invoice_amount,
        bounds_of.sign * intervals.overdue_amount as overdue_amount,
        bounds_of.sign * intervals.late_invoices as late_invoices,
        bounds_of.sign * intervals.late_due_day_numbers as late_due_day_numbers,
        bounds_of.sign * intervals.days_late_when_paid as days_late_when_paid,
        null::date as last_order_date,
        false as is_as_of_date
    from intervals
    cross join lateral (
        select intervals.active_from as event_date, 1 as sign
        union all
        select intervals.active_until, -1
        where intervals.active_until is not null
    ) as bounds_of
    cross join date_range
    where (intervals.active_until is null or intervals.active_from < intervals.active_until)
        and bounds_of.event_date <= date_range.last_date
    union all
    -- The last completed order: the last one before F, then each completed date of the range.
    select order_history.account_id, date_range.first_date,
        null, null, null, null, null, null, null, null, null, null, null, null, null,
        order_history.last_completed_before, false
    from order_history
    cross join date_range
    where order_history.last_completed_before is not null
    union all
    select account_id, order_date + 1,
        null, null, null, null, null, null, null, null, null, null, null, null, null,
        order_date, false
    from completed_lines
    where order_date >= list_min($as_of_dates::date[])
    union all
    -- One row per account and as-of date reads the running figures.
    select account_id, as_of_date,
        null, null, null, null, null, null, null, null, null, null, null, null, null,
        null, true
    from snapshot_accounts
),

daily_changes as (
    select
        account_id,
        event_date,
        sum(revenue) as revenue,
        sum(revenue_prev) as revenue_prev,
        sum(costed_net) as costed_net,
        sum(costed_cost) as costed_cost,
        sum(order_count) as order_count,
        sum(product_breadth) as product_breadth,
        sum(active_months) as active_months,
        sum(invoice_count) as invoice_count,
        sum(invoice_amount) as invoice_amount,
        sum(overdue_amount) as overdue_amount,
        sum(late_invoices) as late_invoices,
        sum(late_due_day_numbers) as late_due_day_numbers,
        sum(days_late_when_paid) as days_late_when_paid,
        max(last_order_date) as last_order_date,
        bool_or(is_as_of_date) as is_as_of_date
    from events
    group by account_id, event_date
),

running as (
    select
        account_id,
        event_date as as_of_date,
        is_as_of_date,
        sum(revenue) over to_date as revenue,
        sum(revenue_prev) over to_date as revenue_prev,
        sum(costed_net) over to_date as costed_net,
        sum(costed_cost) over to_date as costed_cost,
        sum(order_count) over to_date as order_count,
        sum(product_breadth) over to_date as product_breadth,
        sum(active_months) over to_date as active_months,
        sum(invoice_count) over to_date as invoice_count,
        sum(invoice_amount) over to_date as invoice_amount,
        sum(overdue_amount) over to_date as overdue_amount,
        sum(late_invoices) over to_date as late_invoices,
        sum(late_due_day_numbers) over to_date as late_due_day_numbers,
        sum(days_late_when_paid) over to_date as days_late_when_paid,
        max(last_order_date) over to_date as last_order_date
    from daily_changes
    window to_date as (partition by account_id order by event_date rows between unbounded preceding and current row)
),

window_years as (
    -- Each calendar year overlapping C, with the days of C it holds and its own length (365 or 366).
    select
        bounds.as_of_date,
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
        window_years.as_of_date,
        wallet.account_id,
        cast(sum(cast(wallet.wallet_amount * window_years.days_in_window / window_years.days_in_year as decimal(38, 12)))
            as double) * $window_days::integer / sum(window_years.days_in_window) as wallet_amount_window
    from wallet
    inner join window_years
        on wallet.year = window_years.year
    group by window_years.as_of_date, wallet.account_id
),

market_year as (
    select
        as_of_date,
        cast(arg_max(year, days_in_window * 10000 + year) as integer) as market_year
    from window_years
    group by as_of_date
),

market_growth as (
    select
        market_year.as_of_date,
        market.industry,
        market.region,
        sum(cast(market.market_size as decimal(38, 12))) filter (where market.year = market_year.market_year)
            / nullif(sum(cast(market.market_size as decimal(38, 12))) filter (where market.year = market_year.market_year - 1), 0)
            - 1 as market_growth
    from market
    cross join market_year
    group by market_year.as_of_date, market.industry, market.region
),

survey_stats as (
    select
        bounds.as_of_date,
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
    inner join bounds
        on surveys.responded_on >= bounds.current_start
        and surveys.responded_on < bounds.as_of_date
    group by bounds.as_of_date, surveys.account_id
),

complaints_in_window as (
    select
        bounds.as_of_date,
        complaints.account_id,
        coalesce(complaints.resolved_at < bounds.as_of_date::timestamp, false) as is_resolved,
        -- Hours to resolution, or the age at D 00:00 while still open at D: an open complaint is never the best case.
        epoch(
            case
                when complaints.resolved_at < bounds.as_of_date::timestamp then complaints.resolved_at
                else bounds.as_of_date::timestamp
            end - complaints.opened_at
        ) / 3600.0 as resolution_hours,
        case complaints.severity
            when 'low' then $sla_low_hours::double
            when 'medium' then $sla_medium_hours::double
            when 'high' then $sla_high_hours::double
            when 'critical' then $sla_critical_hours::double
        end as sla_hours
    from complaints
    inner join bounds
        on complaints.opened_at >= bounds.current_start::timestamp
        and complaints.opened_at < bounds.as_of_date::timestamp
),

complaint_stats as (
    select
        as_of_date,
        account_id,
        count(*) as complaint_count,
        avg(cast(resolution_hours as decimal(38, 12))) as avg_resolution_hours,
        -- Resolved later than the SLA, or still open and already older than it at D.
        count(*) filter (where resolution_hours > sla_hours) as breached_count,
        count(*) filter (where not is_resolved) as open_complaints
    from complaints_in_window
    group by as_of_date, account_id
),

account_orders as (
    select
        running.as_of_date,
        running.account_id,
        coalesce(running.revenue, 0) as revenue,
        coalesce(running.revenue_prev, 0) as revenue_prev,
        cast(running.costed_net - running.costed_cost as double)
            / nullif(cast(running.costed_net as double), 0) as gross_margin,
        cast(coalesce(running.order_count, 0) as bigint) as order_count,
        cast(coalesce(running.product_breadth, 0) as bigint) as product_breadth,
        cast(coalesce(running.active_months, 0) as bigint) as active_months,
        running.last_order_date,
        coalesce(order_history.first_completed < running.as_of_date - $window_days::integer, false)
            as ordered_before_current,
        coalesce(running.last_order_date >= running.as_of_date - $churn_days::integer, false) as ordered_recently,
        cast(coalesce(running.invoice_count, 0) as bigint) as invoice_count,
        cast(coalesce(running.overdue_amount, 0) as double) / nullif(cast(running.invoice_amount as double), 0) as overdue_ratio,
        -- Days late summed over the invoices of C: late_invoices * D - their due days, plus the paid ones.
        cast(
            coalesce(running.late_invoices * date_diff('day', date '1970-01-01', running.as_of_date)
                - running.late_due_day_numbers, 0)
            + coalesce(running.days_late_when_paid, 0) as double
        ) / nullif(running.invoice_count, 0) as avg_days_late
    from running
    left join order_history
        on running.account_id = order_history.account_id
    where running.is_as_of_date
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
        account_orders.invoice_count,
        account_orders.overdue_ratio,
        account_orders.avg_days_late,
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
