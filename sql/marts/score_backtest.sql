-- marts.score_backtest: did the score predict churn? One row per (stored snapshot D, horizon h of $horizons)
-- for every D <= $as_of that has a later stored snapshot on or after D + h, the first of them F <= $as_of.
-- Only the snapshots D listed in $backtest_dates are computed (a daily run recomputes the few whose
-- result the new snapshot can change, see kam_pipeline/warehouse/backtest.py); F is found among all.
--
-- The accounts of D are those scored at D, not churned at D and present at F; churned are those of
-- them with is_churned = 1 at F. With the retained accounts as positives,
--   auc = P(score of a retained account > score of a churned one) + 1/2 P(tie)
-- computed by the Mann-Whitney rank sum (average ranks of the scores at D; NULL without both kinds).
-- The churn rates of the bottom and top score quintiles (ntile(5) by score, ties by account_id) show
-- the same thing in words: a score that predicts churn loses more of its bottom fifth.

with

snapshots as (
    select distinct as_of_date
    from marts.account_scores
    where as_of_date <= $as_of
),

pairs as (
    -- Each D and horizon, with the first snapshot F on or after D + h.
    select
        d.as_of_date,
        horizon.horizon_days,
        min(f.as_of_date) as followed_as_of_date,
    from snapshots as d
    cross join (select unnest($horizons::integer[]) as horizon_days) as horizon
    inner join snapshots as f on f.as_of_date >= d.as_of_date + horizon.horizon_days
    where list_contains($backtest_dates::date[], d.as_of_date)
    group by all
),

cohort as (
    select
        pairs.as_of_date,
        pairs.horizon_days,
        pairs.followed_as_of_date,
        scores.account_id,
        scores.score,
        later.is_churned = 1 as churned,
    from pairs
    inner join marts.account_scores as scores on scores.as_of_date = pairs.as_of_date
    inner join marts.account_indicators as at_d
        on at_d.as_of_date = pairs.as_of_date and at_d.account_id = scores.account_id
    inner join marts.account_indicators as later
        on later.as_of_date = pairs.followed_as_of_date and later.account_id = scores.account_id
    where scores.score is not null and not isnan(scores.score) and coalesce(at_d.is_churned, 0) = 0
),

ranked as (
    select
        *,
        -- average rank of the score among the cohort (ties share the mean of their positions)
        rank() over by_score + (count(*) over (partition by as_of_date, horizon_days, score) - 1) / 2.0
            as score_rank,
        ntile(5) over (partition by as_of_date, horizon_days order by score, account_id) as quintile,
    from cohort
    window by_score as (partition by as_of_date, horizon_days order by score)
),

final as (
    select
        as_of_date,
        horizon_days,
        followed_as_of_date,
        count(*) as accounts,
        count(*) filter (where churned) as churned_accounts,
        count(*) filter (where churned) / count(*) as churn_rate,
        case
            when count(*) filter (where churned) > 0 and count(*) filter (where not churned) > 0
                then (
                    sum(score_rank) filter (where not churned)
                    - count(*) filter (where not churned) * (count(*) filter (where not churned) + 1) / 2.0
                ) / (count(*) filter (where not churned) * count(*) filter (where churned))
        end as auc,
        avg(case when churned then 1.0 else 0.0 end) filter (where quintile = 1) as bottom_quintile_churn_rate,
        avg(case when churned then 1.0 else 0.0 end) filter (where quintile = 5) as top_quintile_churn_rate,
    from ranked
    group by as_of_date, horizon_days, followed_as_of_date
)

select * from final
order by as_of_date, horizon_days
