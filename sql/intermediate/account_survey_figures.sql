-- intermediate.account_survey_figures: survey figures per account and as-of date (responses of C, CSAT, the four drivers, NPS).
-- One row per account and as-of date D in $as_of_dates with at least one
-- survey response in C = [D - $window_days, D): the survey figures of marts.account_indicators.
-- csat and the four driver scores are the mean 1-5 rating rescaled to 0-100, (mean - 1) / 4 * 100, over the
-- responses that rated it (NULL when none did); nps = 100 * (promoters 9-10 - detractors 0-6) / answers to recommend.
-- Ratings are averaged as decimal(38, 12): exact, so the result does not depend on the order DuckDB adds them in.

with

surveys as (
    select * from staging.surveys
),

bounds as (
    select
        dates.as_of_date,
        dates.as_of_date - $window_days::integer as current_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

final as (
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
)

select * from final
