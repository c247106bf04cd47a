-- marts.account_lifecycle: one row per account and as-of date D in $as_of_dates (accounts with since <= D), the
-- lifecycle stage of INDICATORS.md and what the revenue bridge needs.
-- Windows: C = [D - W, D), P = [D - 2W, D - W), W = $window_days; nothing dated on or after D is read.
-- Stages look at completed lines only: new (first completed order in C), reactivated (completed before P and in C,
-- none in P), retained (in P and in C), churned (in P, none in C), dormant (none in P or C, but earlier),
-- prospect (never). Exactly one applies to every account.
-- revenue_c and revenue_p are signed as in account_indicators (returned lines count -abs(net_amount), cancelled
-- lines are ignored) and exact decimals, so they equal its revenue and revenue_prev to the cent.
-- revenue_change = revenue_c - revenue_p goes to one bridge bucket: new, reactivated or churned by stage; retained
-- -> expansion (change >= 0) or contraction (< 0); prospect and dormant accounts (returns only, or nothing) -> other.
-- first_order_date = first completed order before D; days_to_first_order = first_order_date - accounts.since
-- (negative when the file dates an order before the account's start).
-- Acquisition (optional source, acquired_on < D): payback = gross margin (net - cost over the signed lines that carry
-- cost_amount) from acquired_on to D / acquisition_cost; NULL when the cost is 0, or when lines since acquired_on
-- exist but none carries cost data.
--
-- Several as-of dates share one read of state.account_order_days: per account, running totals at each order date
-- (warehouse/order_days.py keeps them up to date with staging.orders), read at the cut dates D, D - W, D - 2W (and
-- acquired_on): "everything dated before the cut". The rows at the cuts of D are picked by their dates first and
-- then joined to the accounts by account and date, so no join holds every row of the totals in a hash table.

with

accounts as (
    select * from staging.accounts
),

managers as (
    select * from staging.managers
),

acquisition as (
    select * from staging.acquisition
),

bounds as (
    select
        dates.as_of_date,
        dates.as_of_date - $window_days::integer as current_start,
        dates.as_of_date - 2 * $window_days::integer as previous_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

snapshot_accounts as (
    select
        bounds.as_of_date,
        bounds.current_start,
        bounds.previous_start,
        accounts.account_id,
        accounts.segment,
        accounts.manager_id,
        managers.team_id,
        accounts.since
    from accounts
    inner join bounds
        on accounts.since <= bounds.as_of_date
    left join managers
        on accounts.manager_id = managers.manager_id
),

running_lines as (
    -- Per account and order date, the totals of everything dated on or before order_date, kept up to
    -- date by warehouse/order_days.py; the row with order_date < X <= next_order_date (or the last row
    -- before X) holds the totals of everything dated before the cut X.
    select
        account_id,
        order_date,
        coalesce(next_order_date, date '9999-12-31') as next_order_date,
        net_before,
        margin_before,
        lines_before,
        costed_lines_before,
        first_completed_before,
        last_completed_before
    from state.account_order_days
),

cut_dates as (
    select as_of_date, 'd' as cut, as_of_date as cut_date from bounds
    union all
    select as_of_date, 'c', current_start from bounds
    union all
    select as_of_date, 'p', previous_start from bounds
),

cut_rows as (
    -- The row of each account that holds the totals before each cut date of each as-of date, matched on
    -- the dates alone: one pass over the totals, and each account is then joined once per cut.
    select cut_dates.as_of_date, cut_dates.cut, running_lines.*
    from running_lines
    inner join cut_dates
        on cut_dates.cut_date > running_lines.order_date
        and cut_dates.cut_date <= running_lines.next_order_date
),

cuts as (
    select
        snapshot_accounts.*,
        coalesce(at_d.net_before, 0) as net_before_d,
        coalesce(at_c.net_before, 0) as net_before_c,
        coalesce(at_p.net_before, 0) as net_before_p,
        at_d.first_completed_before as first_order_date,
        at_d.last_completed_before as last_completed_d,
        at_c.last_completed_before as last_completed_c,
        at_p.last_completed_before as last_completed_p,
        coalesce(at_d.margin_before, 0) as margin_before_d,
        coalesce(at_d.lines_before, 0) as lines_before_d,
        coalesce(at_d.costed_lines_before, 0) as costed_lines_before_d
    from snapshot_accounts
    left join cut_rows as at_d
        on snapshot_accounts.account_id = at_d.account_id
        and snapshot_accounts.as_of_date = at_d.as_of_date
        and at_d.cut = 'd'
    left join cut_rows as at_c
        on snapshot_accounts.account_id = at_c.account_id
        and snapshot_accounts.as_of_date = at_c.as_of_date
        and at_c.cut = 'c'
    left join cut_rows as at_p
        on snapshot_accounts.account_id = at_p.account_id
        and snapshot_accounts.as_of_date = at_p.as_of_date
        and at_p.cut = 'p'
),

acquired as (
    -- The totals before acquired_on, for the accounts acquired before D.
    select
        cuts.as_of_date,
        cuts.account_id,
        acquisition.acquired_on,
        acquisition.acquisition_cost,
        cuts.margin_before_d - coalesce(at_a.margin_before, 0) as margin_since,
        cuts.lines_before_d - coalesce(at_a.lines_before, 0) as lines_since,
        cuts.costed_lines_before_d - coalesce(at_a.costed_lines_before, 0) as costed_lines_since
    from cuts
    inner join acquisition
        on cuts.account_id = acquisition.account_id
        and acquisition.acquired_on < cuts.as_of_date
    left join running_lines as at_a
        on acquisition.account_id = at_a.account_id
        and acquisition.acquired_on > at_a.order_date
        and acquisition.acquired_on <= at_a.next_order_date
),

staged as (
    select
        cuts.*,
        cuts.net_before_d - cuts.net_before_c as revenue_c,
        cuts.net_before_c - cuts.net_before_p as revenue_p,
        coalesce(cuts.last_completed_d >= cuts.current_start, false) as ordered_in_c,
        coalesce(cuts.last_completed_c >= cuts.previous_start, false) as ordered_in_p,
        case
            when cuts.first_order_date is null then 'prospect'
            when cuts.first_order_date >= cuts.current_start then 'new'
            when cuts.last_completed_d >= cuts.current_start and cuts.last_completed_c >= cuts.previous_start
                then 'retained'
            -- Completed in C, first order before C and none in P: the earlier order was before P.
            when cuts.last_completed_d >= cuts.current_start then 'reactivated'
            when cuts.last_completed_c >= cuts.previous_start then 'churned'
            else 'dormant'
        end as lifecycle_stage
    from cuts
),

final as (
    select
        staged.as_of_date,
        staged.account_id,
        staged.segment,
        staged.manager_id,
        staged.team_id,
        staged.lifecycle_stage,
        staged.first_order_date,
        date_diff('day', staged.since, staged.first_order_date) as days_to_first_order,
        staged.ordered_in_c,
        staged.ordered_in_p,
        staged.revenue_c,
        staged.revenue_p,
        staged.revenue_c - staged.revenue_p as revenue_change,
        case
            when staged.lifecycle_stage in ('new', 'reactivated', 'churned') then staged.lifecycle_stage
            when staged.lifecycle_stage = 'retained' and staged.revenue_c >= staged.revenue_p then 'expansion'
            when staged.lifecycle_stage = 'retained' then 'contraction'
            else 'other'
        end as bridge_bucket,
        acquired.acquired_on,
        acquired.acquisition_cost,
        case
            when acquired.lines_since > 0 and acquired.costed_lines_since = 0 then null
            else cast(acquired.margin_since as double) / nullif(cast(acquired.acquisition_cost as double), 0)
        end as payback
    from staged
    left join acquired
        on staged.as_of_date = acquired.as_of_date
        and staged.account_id = acquired.account_id
)

select * from final
