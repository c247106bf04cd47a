-- intermediate.account_order_figures: order figures per account and as-of date (revenue of C and P, margin, orders, categories, months, last order).
-- One row per account and as-of date D in $as_of_dates (accounts with
-- since <= D, with or without orders), the order figures of marts.account_indicators.
-- Windows on dates: C = [D - W, D), P = [D - 2W, D - W), W = $window_days; nothing dated on or after D is read.
-- Returned lines count -abs(net_amount) (and -abs(cost_amount)) whatever sign the file used; cancelled lines are ignored.
-- revenue and revenue_prev are the signed sums of C and P (0 without lines); gross_margin uses only the C lines that
-- carry cost_amount, so lines without cost data neither inflate nor deflate it (NULL when their net is 0).
-- order_count, product_breadth and active_months count the distinct orders, categories and calendar months of the
-- completed lines of C; last_order_date is the last completed line before D.
-- ordered_before_current: a completed line before C; ordered_recently: one in [D - $churn_days, D).
-- Amounts are DECIMAL and summed exactly, so the result does not depend on the order DuckDB adds them in.
--
-- Several as-of dates (a backfill from F to L) share one pass over the orders. Each figure is a sum of terms
-- that are each active on an interval of as-of dates: an order line dated d is in C for D in [d + 1, d + W + 1).
-- Every interval becomes +term where it starts and -term where it ends, and a running sum per account read
-- at each D gives the figure. A distinct count (orders, categories, months) counts a key from each of its
-- dates d to its next one n, for D in [d + 1, least(d + W, n) + 1). Starts before F count from F and changes
-- after L are left out, so with one as-of date nearly every term falls on F.

with

accounts as (
    select * from staging.accounts
),

orders as not materialized (
    select * from staging.orders
),

bounds as (
    select distinct unnest($as_of_dates::date[]) as as_of_date
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
    select bounds.as_of_date, accounts.account_id
    from accounts
    inner join bounds
        on accounts.since <= bounds.as_of_date
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
    -- every date of the range, and so is its order, category and month ("held"). The month is kept
    -- as a date and written as text once per key (formatting every line cost 0.6 CPU-s at 10M).
    select
        order_lines.account_id,
        order_lines.order_id,
        order_lines.product_category,
        date_trunc('month', order_lines.order_date) as order_month,
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
    select account_id, 'month', strftime(order_month, '%Y-%m'), bool_or(held)
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
            select account_id, 'month', strftime(order_month, '%Y-%m'), order_date from completed_lines where not held
        ) as lines
        semi join (select account_id, kind, key from key_states where not held) as moving
            on lines.account_id = moving.account_id
            and lines.kind = moving.kind
            and lines.key = moving.key
        where list_min($as_of_dates::date[]) < list_max($as_of_dates::date[])
    ) as key_dates
    cross join date_range
),

intervals as (
    -- Every term of a running figure with the as-of dates [active_from, active_until) it is active on
    -- (active_until NULL: to the end of the range).
    select
        account_id, enters_current as active_from, enters_previous as active_until,
        net as revenue, null as revenue_prev, costed_net, costed_cost,
        null as order_count, null as product_breadth, null as active_months
    from order_amounts
    union all
    select account_id, enters_previous, leaves_previous, null, net, null, null, null, null, null
    from order_amounts
    where enters_previous is not null
    union all
    select key_states.account_id, date_range.first_date, null, null, null, null, null,
        count(*) filter (where key_states.kind = 'order'),
        count(*) filter (where key_states.kind = 'category'),
        count(*) filter (where key_states.kind = 'month')
    from key_states
    cross join date_range
    where key_states.held
    group by key_states.account_id, date_range.first_date
    union all
    select account_id, span_start, span_end, null, null, null, null,
        case when kind = 'order' then 1 end,
        case when kind = 'category' then 1 end,
        case when kind = 'month' then 1 end
    from moving_key_spans
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
        null, null, null, null, null, null, null,
        order_history.last_completed_before, false
    from order_history
    cross join date_range
    where order_history.last_completed_before is not null
    union all
    select account_id, order_date + 1,
        null, null, null, null, null, null, null,
        order_date, false
    from completed_lines
    where order_date >= list_min($as_of_dates::date[])
    union all
    -- One row per account and as-of date reads the running figures.
    select account_id, as_of_date,
        null, null, null, null, null, null, null,
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
        max(last_order_date) over to_date as last_order_date
    from daily_changes
    window to_date as (partition by account_id order by event_date rows between unbounded preceding and current row)
),

final as (
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
        coalesce(running.last_order_date >= running.as_of_date - $churn_days::integer, false) as ordered_recently
    from running
    left join order_history
        on running.account_id = order_history.account_id
    where running.is_as_of_date
)

select * from final
