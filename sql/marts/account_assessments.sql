-- marts.account_assessments: one row per (account, dimension) rated in C = [D - W, D), for every as-of date D
-- of $as_of_dates (one query computes a whole backfill range), W = $window_days.
-- Only the latest assessed_on date in C counts; score = (mean of that date's scores - 1) / 4 * 100.
-- assessor_count = the ratings averaged into score (that date's rows; an assessor rating twice that day counts twice).
-- Only accounts in the snapshot (since <= D); nothing dated on or after D is read.
-- A rated day is the latest of its account and dimension for every D in (day, next rated day] that is also
-- within day + W: one pass over the assessments serves every date.
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
    select distinct unnest($as_of_dates::date[]) as as_of_date
),

assessment_days as (
    -- One row per account, dimension and day rated, in the windows of the first to the last date.
    select
        assessments.account_id,
        assessments.dimension,
        assessments.assessed_on,
        (avg(cast(assessments.score as decimal(38, 12))) - 1) / 4 * 100 as score,
        count(*) as assessor_count
    from assessments
    where assessments.assessed_on >= list_min($as_of_dates::date[]) - $window_days::integer
        and assessments.assessed_on < list_max($as_of_dates::date[])
    group by assessments.account_id, assessments.dimension, assessments.assessed_on
),

latest_spans as (
    -- A day is the latest rating of its account and dimension for every D in (day, next day],
    -- and within the window only while D <= day + W.
    select
        *,
        least(
            assessed_on + $window_days::integer,
            coalesce(
                lead(assessed_on) over (partition by account_id, dimension order by assessed_on),
                assessed_on + $window_days::integer
            )
        ) as latest_until
    from assessment_days
),

final as (
    select
        bounds.as_of_date,
        latest_spans.account_id,
        latest_spans.dimension,
        latest_spans.score,
        latest_spans.assessor_count,
        latest_spans.assessed_on
    from latest_spans
    inner join accounts
        on latest_spans.account_id = accounts.account_id
    inner join bounds
        on bounds.as_of_date > latest_spans.assessed_on
        and bounds.as_of_date <= latest_spans.latest_until
        and bounds.as_of_date >= accounts.since
)

select * from final
