-- marts.score_changes: why each score moved, one row per (as-of date D, account, indicator), for every D
-- of $as_of_dates against its previous stored snapshot P ($previous_as_of_dates, same order; NULL: none).
--
-- An account is compared when it was scored at both D and P (so its score_change exists). For each
-- indicator of either snapshot, with w the effective weight and n the normalised value (0 on the side
-- where the indicator is absent):
--   delta         = contribution - previous_contribution
--   value_effect  = 100 * w_P * (n_D - n_P)    the points the indicator's own movement made
--   weight_effect = 100 * (w_D - w_P) * n_D    the points re-weighting made (objective weights, missing data)
-- so value_effect + weight_effect = delta, and an account's deltas add up to its score_change.

with

pairs as (
    select
        unnest($as_of_dates::date[]) as as_of_date,
        unnest($previous_as_of_dates::date[]) as previous_as_of_date,
),

compared_accounts as (
    -- Accounts scored on both dates of a pair.
    select
        pairs.as_of_date,
        pairs.previous_as_of_date,
        cur.account_id,
    from pairs
    inner join marts.account_scores as cur on cur.as_of_date = pairs.as_of_date
    inner join marts.account_scores as prev
        on prev.as_of_date = pairs.previous_as_of_date and prev.account_id = cur.account_id
),

current_contributions as (
    select
        compared.as_of_date,
        contributions.account_id,
        contributions.profile,
        contributions.indicator,
        contributions."group",
        contributions.value,
        contributions.normalized,
        contributions.weight,
        contributions.contribution,
    from marts.score_contributions as contributions
    inner join compared_accounts as compared
        on contributions.as_of_date = compared.as_of_date and contributions.account_id = compared.account_id
),

previous_contributions as (
    select
        compared.as_of_date,
        contributions.account_id,
        contributions.profile,
        contributions.indicator,
        contributions."group",
        contributions.value,
        contributions.normalized,
        contributions.weight,
        contributions.contribution,
    from marts.score_contributions as contributions
    inner join compared_accounts as compared
        on contributions.as_of_date = compared.previous_as_of_date
        and contributions.account_id = compared.account_id
),

joined as (
    select
        coalesce(cur.as_of_date, prev.as_of_date) as as_of_date,
        coalesce(cur.account_id, prev.account_id) as account_id,
        coalesce(cur.profile, prev.profile) as profile,
        coalesce(cur.indicator, prev.indicator) as indicator,
        coalesce(cur."group", prev."group") as "group",
        prev.value as previous_value,
        cur.value as value,
        coalesce(prev.normalized, 0) as previous_normalized,
        coalesce(cur.normalized, 0) as normalized,
        coalesce(prev.weight, 0) as previous_weight,
        coalesce(cur.weight, 0) as weight,
        coalesce(prev.contribution, 0) as previous_contribution,
        coalesce(cur.contribution, 0) as contribution,
    from current_contributions as cur
    full outer join previous_contributions as prev
        on cur.as_of_date = prev.as_of_date and cur.account_id = prev.account_id and cur.indicator = prev.indicator
),

final as (
    select
        joined.as_of_date,
        joined.account_id,
        joined.profile,
        joined.indicator,
        joined."group",
        compared.previous_as_of_date,
        joined.previous_value,
        joined.value,
        joined.previous_normalized,
        joined.normalized,
        joined.previous_weight,
        joined.weight,
        joined.previous_contribution,
        joined.contribution,
        joined.contribution - joined.previous_contribution as delta,
        100 * joined.previous_weight * (joined.normalized - joined.previous_normalized) as value_effect,
        100 * (joined.weight - joined.previous_weight) * joined.normalized as weight_effect,
    from joined
    inner join compared_accounts as compared
        on joined.as_of_date = compared.as_of_date and joined.account_id = compared.account_id
)

-- In no particular order: sorting was most of this query's time, and BI tools sort as they read.
select * from final
