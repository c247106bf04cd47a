-- marts.account_assessments: one row per (account, dimension) rated in C = [D - W, D), D = $as_of, W = $window_days.
-- Only the latest assessed_on date in C counts; score = (mean of that date's scores - 1) / 4 * 100.
-- assessor_count = the ratings averaged into score (that date's rows; an assessor rating twice that day counts twice).
-- Only accounts in the snapshot (since <= D); nothing dated on or after D is read.
-- Non-integer doubles are summed as decimal(38, 12): exact, so the result does not depend on the order
-- DuckDB's parallel aggregation adds them in (identical inputs give byte-identical marts).

with

accounts as (
    select * from staging.accounts
),

assessments as (
    select * from staging.assessments
),

bounds as (
    select
        $as_of::date as as_of_date,
        $as_of::date - $window_days::integer as current_start
),

assessments_in_window as (
    select
        assessments.account_id,
        assessments.dimension,
        assessments.assessed_on,
        assessments.assessor,
        assessments.score
    from assessments
    cross join bounds
    inner join accounts
        on assessments.account_id = accounts.account_id
    where assessments.assessed_on >= bounds.current_start
        and assessments.assessed_on < bounds.as_of_date
        and accounts.since <= bounds.as_of_date
),

latest_dates as (
    select
        account_id,
        dimension,
        max(assessed_on) as assessed_on
    from assessments_in_window
    group by account_id, dimension
),

final as (
    select
        bounds.as_of_date,
        assessments_in_window.account_id,
        assessments_in_window.dimension,
        (avg(cast(assessments_in_window.score as decimal(38, 12))) - 1) / 4 * 100 as score,
        count(*) as assessor_count,
        assessments_in_window.assessed_on
    from assessments_in_window
    inner join latest_dates
        on assessments_in_window.account_id = latest_dates.account_id
        and assessments_in_window.dimension = latest_dates.dimension
        and assessments_in_window.assessed_on = latest_dates.assessed_on
    cross join bounds
    group by
        bounds.as_of_date,
        assessments_in_window.account_id,
        assessments_in_window.dimension,
        assessments_in_window.assessed_on
)

select * from final
