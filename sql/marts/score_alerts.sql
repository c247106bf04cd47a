-- marts.score_alerts: one row per alert (account x rule) raised on an as-of date D, for every D of $as_of_dates
-- (one query computes a whole backfill range).
--
-- Every rule compares the snapshot D with the previous stored snapshot ($previous_as_of_dates: the latest
-- as_of_date < D in marts.account_scores, one per date of $as_of_dates), so an account needs both to alert:
--   score_drop      score fell by more than $alert_score_drop_points points
--   grade_drop      grade moved to a lower band of $grade_names (best first); insufficient_data
--                   is not a band, so moving into or out of it is no grade drop
--   became_churned  is_churned is 1 at D and was 0 in the previous snapshot
-- $alert_key_accounts_only keeps accounts that are key at D or were key before: a key account
-- whose revenue collapsed may just have left the Pareto set, and that is the alert we want.
-- The driver is the indicator whose contribution to the score fell the most between the two
-- snapshots (its delta in marts.score_changes: absent on one side counts 0 points), preferring
-- one whose raw value got worse (direction from $lower_indicators) or went missing over one that
-- only lost ground against the other accounts (normalisation and entropy weights are relative).
-- change_breakdown splits the score change into the largest value effects and the re-weighting.
-- Changes are read only for the accounts that alert: the drivers of the others are never shown.

with

pairs as (
    -- Every D of $as_of_dates with a stored snapshot before it ($previous_as_of_dates, same order).
    select *
    from (
        select
            unnest($as_of_dates::date[]) as as_of_date,
            unnest($previous_as_of_dates::date[]) as previous_as_of_date,
    ) as bound
    where previous_as_of_date is not null
),

current_scores as (
    select scores.*
    from marts.account_scores as scores
    inner join pairs on scores.as_of_date = pairs.as_of_date
),

previous_scores as (
    select
        pairs.as_of_date as compared_on,
        scores.*
    from marts.account_scores as scores
    inner join pairs on scores.as_of_date = pairs.previous_as_of_date
),

current_indicators as (
    select indicators.as_of_date, indicators.account_id, indicators.is_churned, indicators.recency_days
    from marts.account_indicators as indicators
    inner join pairs on indicators.as_of_date = pairs.as_of_date
),

previous_indicators as (
    select pairs.as_of_date as compared_on, indicators.account_id, indicators.is_churned
    from marts.account_indicators as indicators
    inner join pairs on indicators.as_of_date = pairs.previous_as_of_date
),

compared as (
    select
        cur.as_of_date,
        cur.account_id,
        cur.account_name,
        cur.segment,
        cur.manager_id,
        cur.team_id,
        cur.is_key_account,
        prev.is_key_account as was_key_account,
        prev.as_of_date as previous_as_of_date,
        prev.score as previous_score,
        cur.score,
        cur.score - prev.score as score_change,
        prev.grade as previous_grade,
        cur.grade,
        nullif(list_position($grade_names::varchar[], prev.grade), 0) as previous_band,
        nullif(list_position($grade_names::varchar[], cur.grade), 0) as band,
        prev_ind.is_churned as was_churned,
        cur_ind.is_churned,
        cur_ind.recency_days,
    from current_scores as cur
    inner join previous_scores as prev
        on cur.as_of_date = prev.compared_on and cur.account_id = prev.account_id
    left join current_indicators as cur_ind
        on cur.as_of_date = cur_ind.as_of_date and cur.account_id = cur_ind.account_id
    left join previous_indicators as prev_ind
        on cur.as_of_date = prev_ind.compared_on and cur.account_id = prev_ind.account_id
    where not $alert_key_accounts_only
        or coalesce(cur.is_key_account, false)
        or coalesce(prev.is_key_account, false)
),

fired as (
    select
        *,
        'score_drop' as rule,
        format('score fell {:.1f} points ({:.1f} -> {:.1f})', -score_change, previous_score, score) as what,
    from compared
    where score_change < -$alert_score_drop_points

    union all by name

    select
        *,
        'grade_drop' as rule,
        format('grade fell from {} to {}', previous_grade, grade) as what,
    from compared
    where $alert_grade_drop and band > previous_band

    union all by name

    select
        *,
        'became_churned' as rule,
        format('newly churned: no completed order for {} days', recency_days) as what,
    from compared
    where $alert_became_churned and is_churned = 1 and was_churned = 0
),

alerting as (
    select distinct as_of_date, previous_as_of_date, account_id
    from fired
),

contribution_changes as (
    -- marts.score_changes holds each indicator's change of points (delta) against the same previous snapshot.
    select
        changes.as_of_date,
        changes.account_id,
        changes.indicator,
        changes.previous_value,
        changes.value,
        changes.delta as contribution_change,
        changes.value_effect,
        changes.weight_effect,
        coalesce(
            case
                when changes.value is null then changes.previous_value is not null
                when list_contains($lower_indicators::varchar[], changes.indicator)
                    then changes.value > changes.previous_value
                else changes.value < changes.previous_value
            end,
            false
        ) as worsened,
    from marts.score_changes as changes
    inner join alerting
        on changes.as_of_date = alerting.as_of_date and changes.account_id = alerting.account_id
),

breakdowns as (
    -- "score -6.2: csat -4.1, complaint_rate -2.0, reweighting -0.1": the three largest value effects
    -- and the sum of the weight effects, in points.
    select
        as_of_date,
        account_id,
        format('score {:+.1f}: ', sum(contribution_change))
        || array_to_string(
            list(format('{} {:+.1f}', indicator, value_effect) order by abs(value_effect) desc, indicator)
                filter (where value_effect <> 0)[1:3]
            || [format('reweighting {:+.1f}', sum(weight_effect))],
            ', '
        ) as change_breakdown,
    from contribution_changes
    group by as_of_date, account_id
),

drivers as (
    select *
    from contribution_changes
    where contribution_change < 0
    qualify row_number() over (
        partition by as_of_date, account_id order by worsened desc, contribution_change, indicator
    ) = 1
),

final as (
    select
        fired.as_of_date,
        fired.account_id,
        fired.account_name,
        fired.segment,
        fired.manager_id,
        fired.team_id,
        fired.is_key_account,
        fired.rule,
        fired.previous_as_of_date,
        fired.previous_score,
        fired.score,
        fired.score_change,
        fired.previous_grade,
        fired.grade,
        drivers.indicator as driver_indicator,
        drivers.contribution_change as driver_change,
        drivers.previous_value as driver_previous_value,
        drivers.value as driver_value,
        breakdowns.change_breakdown,
        fired.what || coalesce(
            format('; largest fall: {} ({:+.1f} points)', drivers.indicator, drivers.contribution_change), ''
        ) as reason,
    from fired
    left join drivers on fired.as_of_date = drivers.as_of_date and fired.account_id = drivers.account_id
    left join breakdowns on fired.as_of_date = breakdowns.as_of_date and fired.account_id = breakdowns.account_id
)

select * from final
order by as_of_date, account_id, rule
