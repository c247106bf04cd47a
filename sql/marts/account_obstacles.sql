-- marts.account_obstacles (obstacle degree, 障碍度): what holds each account's score back, one row per
-- (as-of date D, account, indicator with a normalised value), for every D of $as_of_dates.
--
-- With w the effective weight and n the normalised value of marts.score_contributions, the indicator's
-- shortfall is w * (1 - n) (points_lost = 100 * w * (1 - n) of the 0-100 score), and
--   obstacle_degree = w * (1 - n) / sum over the account's indicators of w * (1 - n)
-- so an account's obstacle degrees sum to 1; obstacle_rank 1 is its largest obstacle. An account that
-- lost no point at all has no obstacle: its degrees and ranks are NULL.

with

contributions as (
    select
        as_of_date,
        account_id,
        profile,
        indicator,
        "group",
        normalized,
        weight,
        weight * (1 - normalized) as shortfall,
    from marts.score_contributions
    where list_contains($as_of_dates::date[], as_of_date)
        and normalized is not null
),

totals as (
    select
        *,
        sum(shortfall) over (partition by as_of_date, account_id) as total_shortfall,
    from contributions
),

final as (
    select
        as_of_date,
        account_id,
        profile,
        indicator,
        "group",
        normalized,
        weight,
        100 * shortfall as points_lost,
        case when total_shortfall > 0 then shortfall / total_shortfall end as obstacle_degree,
        case
            when total_shortfall > 0
                then cast(row_number() over (
                    partition by as_of_date, account_id order by shortfall desc, indicator
                ) as integer)
        end as obstacle_rank,
    from totals
)

-- In no particular order: sorting was most of this query's time, and BI tools sort as they read.
select * from final
