-- marts.portfolio_kpis: one row per segment plus segment = 'all', from the marts.account_indicators snapshot of D,
-- for every as-of date D of $as_of_dates (one query computes a whole backfill range).
-- Reads the indicator snapshot, not staging orders, so portfolio and account figures cannot disagree.
-- Retention base = accounts with revenue_prev > 0; logo_retention, churn_rate, nrr and grr are NULL when the base is empty.
-- market_size = sum of market_size in market_year over the distinct (industry, region) pairs the accounts cover (a shared pair counts once).
-- market_year = the calendar year holding most days of C = [D - W, D), ties -> the later year (intermediate.window_years).
-- new_accounts, reactivated_accounts count lifecycle stages; new_revenue_share = revenue of new accounts / revenue
-- (NULL when revenue is 0). The revenue bridge (marts.revenue_bridge) splits revenue - revenue_prev by stage.
-- The 'all' row exists even when the snapshot has no accounts (counts 0, revenue 0, ratios NULL).
-- market_size is summed as decimal(38, 12): exact, so the result does not depend on the order DuckDB's
-- parallel aggregation adds the doubles in (identical inputs give byte-identical marts).

with

account_indicators as (
    select * from marts.account_indicators
),

market as (
    select * from staging.market
),

bounds as (
    select distinct unnest($as_of_dates::date[]) as as_of_date
),

-- The market year of each date's window, declared once in intermediate.window_years.
market_year as (
    select
        as_of_date,
        cast(year as integer) as market_year
    from intermediate.window_years
    where is_market_year
        and list_contains($as_of_dates::date[], as_of_date)
),

snapshot as (
    select
        account_indicators.as_of_date,
        account_indicators.segment,
        account_indicators.industry,
        account_indicators.region,
        account_indicators.revenue,
        account_indicators.revenue_prev,
        account_indicators.is_churned,
        account_indicators.lifecycle_stage
    from account_indicators
    where list_contains($as_of_dates::date[], account_indicators.as_of_date)
        and account_indicators.as_of_date between list_min($as_of_dates::date[]) and list_max($as_of_dates::date[])
),

segment_accounts as (
    -- Every account once under its own segment and once under 'all'.
    select
        snapshot.as_of_date,
        snapshot.segment,
        snapshot.industry,
        snapshot.region,
        snapshot.revenue,
        snapshot.revenue_prev,
        snapshot.is_churned,
        snapshot.lifecycle_stage
    from snapshot
    union all
    select
        snapshot.as_of_date,
        'all' as segment,
        snapshot.industry,
        snapshot.region,
        snapshot.revenue,
        snapshot.revenue_prev,
        snapshot.is_churned,
        snapshot.lifecycle_stage
    from snapshot
),

segments as (
    select
        segment_accounts.as_of_date,
        segment_accounts.segment
    from segment_accounts
    union
    select
        bounds.as_of_date,
        'all' as segment
    from bounds
),

segment_revenue as (
    select
        as_of_date,
        segment,
        count(*) as account_count,
        count(*) filter (where revenue > 0) as active_accounts,
        sum(revenue) as revenue,
        sum(revenue_prev) as revenue_prev,
        count(*) filter (where revenue_prev > 0) as base_accounts,
        count(*) filter (where revenue_prev > 0 and revenue > 0) as retained_accounts,
        sum(revenue) filter (where revenue_prev > 0) as base_revenue,
        sum(revenue_prev) filter (where revenue_prev > 0) as base_revenue_prev,
        sum(least(revenue, revenue_prev)) filter (where revenue_prev > 0) as base_revenue_kept,
        sum(is_churned) as churned_accounts,
        count(*) filter (where lifecycle_stage = 'new') as new_accounts,
        count(*) filter (where lifecycle_stage = 'reactivated') as reactivated_accounts,
        sum(revenue) filter (where lifecycle_stage = 'new') as new_revenue
    from segment_accounts
    group by as_of_date, segment
),

segment_pairs as (
    select distinct
        as_of_date,
        segment,
        industry,
        region
    from segment_accounts
),

segment_markets as (
    select
        segment_pairs.as_of_date,
        segment_pairs.segment,
        cast(sum(cast(market.market_size as decimal(38, 12))) as double) as market_size
    from segment_pairs
    inner join market_year
        on segment_pairs.as_of_date = market_year.as_of_date
    inner join market
        on segment_pairs.industry = market.industry
        and segment_pairs.region = market.region
        and market.year = market_year.market_year
    group by segment_pairs.as_of_date, segment_pairs.segment
),

final as (
    select
        segments.as_of_date,
        segments.segment,
        coalesce(segment_revenue.account_count, 0) as account_count,
        coalesce(segment_revenue.active_accounts, 0) as active_accounts,
        coalesce(segment_revenue.revenue, 0) as revenue,
        coalesce(segment_revenue.revenue_prev, 0) as revenue_prev,
        cast(segment_revenue.revenue - segment_revenue.revenue_prev as double)
            / nullif(cast(segment_revenue.revenue_prev as double), 0) as revenue_growth,
        coalesce(segment_revenue.retained_accounts, 0) as retained_accounts,
        cast(segment_revenue.retained_accounts as double)
            / nullif(segment_revenue.base_accounts, 0) as logo_retention,
        1 - cast(segment_revenue.retained_accounts as double)
            / nullif(segment_revenue.base_accounts, 0) as churn_rate,
        cast(segment_revenue.base_revenue as double)
            / nullif(cast(segment_revenue.base_revenue_prev as double), 0) as nrr,
        cast(segment_revenue.base_revenue_kept as double)
            / nullif(cast(segment_revenue.base_revenue_prev as double), 0) as grr,
        cast(coalesce(segment_revenue.churned_accounts, 0) as bigint) as churned_accounts,
        coalesce(segment_revenue.new_accounts, 0) as new_accounts,
        coalesce(segment_revenue.reactivated_accounts, 0) as reactivated_accounts,
        cast(coalesce(segment_revenue.new_revenue, 0) as double)
            / nullif(cast(segment_revenue.revenue as double), 0) as new_revenue_share,
        segment_markets.market_size,
        cast(coalesce(segment_revenue.revenue, 0) as double)
            / nullif(segment_markets.market_size, 0) as market_share
    from segments
    left join segment_revenue
        on segments.as_of_date = segment_revenue.as_of_date
        and segments.segment = segment_revenue.segment
    left join segment_markets
        on segments.as_of_date = segment_markets.as_of_date
        and segments.segment = segment_markets.segment
)

select * from final
