-- intermediate.account_invoice_figures: payment figures per account and as-of date (invoices of C, overdue ratio, mean days late).
-- One row per account and as-of date D in $as_of_dates (accounts with
-- since <= D, with or without invoices), the payment figures of marts.account_indicators.
-- Invoices issued in C = [D - W, D), W = $window_days; one paid on or after D counts as unpaid at D, and is late when
-- its due date is before D. invoice_count counts them (0 without any); overdue_ratio is the amount of the late ones
-- over the amount of all (NULL when that is 0); avg_days_late the mean over them of the days past due at D
-- (0 for one paid on time; D - due_on while unpaid; paid_on - due_on once paid).
-- Amounts are DECIMAL and summed exactly, so the result does not depend on the order DuckDB adds them in.
--
-- Several as-of dates (a backfill from F to L) share one pass over the invoices, as for the orders
-- (intermediate.account_order_figures): every figure is a sum of terms each active on an interval of
-- as-of dates, +term where the interval starts and -term where it ends, read by a running sum at each D.

with

accounts as (
    select * from staging.accounts
),

invoices as not materialized (
    select * from staging.invoices
),

bounds as (
    select distinct unnest($as_of_dates::date[]) as as_of_date
),

date_range as (
    -- F and L, the first and last as-of dates. Filters on the source table spell them out as
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

invoice_terms as (
    -- An invoice issued on i is in C from i + 1 to i + W + 1. It is late from due_on + 1 on, unless it
    -- was paid on or before its due date. Its days late at D are D - due_on from due_on + 1 until it is
    -- paid (paid_on + 1), then paid_on - due_on. Summed per account and per those dates, moved up to F
    -- (NULL past L).
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
        account_id, enters_current as active_from, leaves_current as active_until,
        invoices as invoice_count, amount as invoice_amount, null as overdue_amount,
        null as late_invoices, null as late_due_day_numbers, null as days_late_when_paid
    from invoice_terms
    union all
    -- Late: in C and from due_on + 1 (both dates known, so NULL means after L).
    select account_id, greatest(enters_current, late_from), leaves_current, null, null, amount, null, null, null
    from invoice_terms
    where late_unless_early and late_from is not null
    union all
    -- Days late grow by one a day between due_on + 1 and paid_on + 1 ...
    select account_id, greatest(enters_current, late_from), least(leaves_current, paid_from),
        null, null, null, invoices, due_day_numbers, null
    from invoice_terms
    where late_from is not null
    union all
    -- ... and stay at paid_on - due_on after it.
    select account_id, greatest(enters_current, paid_from), leaves_current,
        null, null, null, null, null, days_late_when_paid
    from invoice_terms
    where paid_from is not null
),

events as (
    -- +term where an interval starts, -term where it ends; an empty interval adds nothing. Changes
    -- before F all count from F; those after L change no as-of date.
    select
        intervals.account_id,
        greatest(bounds_of.event_date, date_range.first_date) as event_date,
        bounds_of.sign * intervals.invoice_count as invoice_count,
        bounds_of.sign * intervals.invoice_amount as invoice_amount,
        bounds_of.sign * intervals.overdue_amount as overdue_amount,
        bounds_of.sign * intervals.late_invoices as late_invoices,
        bounds_of.sign * intervals.late_due_day_numbers as late_due_day_numbers,
        bounds_of.sign * intervals.days_late_when_paid as days_late_when_paid,
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
    -- One row per account and as-of date reads the running figures.
    select account_id, as_of_date, null, null, null, null, null, null, true
    from snapshot_accounts
),

daily_changes as (
    select
        account_id,
        event_date,
        sum(invoice_count) as invoice_count,
        sum(invoice_amount) as invoice_amount,
        sum(overdue_amount) as overdue_amount,
        sum(late_invoices) as late_invoices,
        sum(late_due_day_numbers) as late_due_day_numbers,
        sum(days_late_when_paid) as days_late_when_paid,
        bool_or(is_as_of_date) as is_as_of_date
    from events
    group by account_id, event_date
),

running as (
    select
        account_id,
        event_date as as_of_date,
        is_as_of_date,
        sum(invoice_count) over to_date as invoice_count,
        sum(invoice_amount) over to_date as invoice_amount,
        sum(overdue_amount) over to_date as overdue_amount,
        sum(late_invoices) over to_date as late_invoices,
        sum(late_due_day_numbers) over to_date as late_due_day_numbers,
        sum(days_late_when_paid) over to_date as days_late_when_paid
    from daily_changes
    window to_date as (partition by account_id order by event_date rows between unbounded preceding and current row)
),

final as (
    select
        as_of_date,
        account_id,
        cast(coalesce(invoice_count, 0) as bigint) as invoice_count,
        cast(coalesce(overdue_amount, 0) as double) / nullif(cast(invoice_amount as double), 0) as overdue_ratio,
        -- Days late summed over the invoices of C: late_invoices * D - their due days, plus the paid ones.
        cast(
            coalesce(late_invoices * date_diff('day', date '1970-01-01', as_of_date) - late_due_day_numbers, 0)
            + coalesce(days_late_when_paid, 0) as double
        ) / nullif(invoice_count, 0) as avg_days_late
    from running
    where is_as_of_date
)

select * from final
