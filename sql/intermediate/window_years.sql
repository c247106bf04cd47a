-- intermediate.window_years: the calendar years of each as-of date's window C, the days of C they hold, and the market year.
-- One row per as-of date D in $as_of_dates and calendar year overlapping
-- C = [D - $window_days, D), with the days of C it holds and its own length (365 or 366).
-- is_market_year marks the year holding most days of C (ties -> the later year): the year market growth is read for.

with

bounds as (
    select
        dates.as_of_date,
        dates.as_of_date - $window_days::integer as current_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

years as (
    select
        bounds.as_of_date,
        years.year,
        date_diff(
            'day',
            greatest(bounds.current_start, make_date(years.year, 1, 1)),
            least(bounds.as_of_date, make_date(years.year + 1, 1, 1))
        ) as days_in_window,
        date_diff('day', make_date(years.year, 1, 1), make_date(years.year + 1, 1, 1)) as days_in_year
    from bounds
    cross join generate_series(year(bounds.current_start), year(bounds.as_of_date - 1)) as years (year)
),

final as (
    select
        as_of_date,
        year,
        days_in_window,
        days_in_year,
        year = arg_max(year, days_in_window * 10000 + year) over (partition by as_of_date) as is_market_year
    from years
)

select * from final
