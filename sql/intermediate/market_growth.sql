-- intermediate.market_growth: market growth per as-of date, industry and region (the market year against the year before).
-- One row per as-of date D in $as_of_dates, industry and region of the market data:
-- market_growth = market size of the market year of D (intermediate.window_years) / that of the year before - 1
-- (NULL when either is missing or the year before is 0). Sizes are summed as decimal(38, 12): exact.

with

market as (
    select * from staging.market
),

market_years as (
    select as_of_date, year as market_year
    from intermediate.window_years
    where is_market_year
        and list_contains($as_of_dates::date[], as_of_date)
),

final as (
    select
        market_years.as_of_date,
        market.industry,
        market.region,
        sum(cast(market.market_size as decimal(38, 12))) filter (where market.year = market_years.market_year)
            / nullif(sum(cast(market.market_size as decimal(38, 12))) filter (where market.year = market_years.market_year - 1), 0)
            - 1 as market_growth
    from market
    cross join market_years
    group by market_years.as_of_date, market.industry, market.region
)

select * from final
