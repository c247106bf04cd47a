-- marts.revenue_bridge: where the revenue change from P to C came from, per as-of date D of $as_of_dates, for the
-- portfolio (level 'all', entity_id 'all'), each segment (level 'segment'), each manager and each team (levels
-- 'manager' and 'team', as in book_indicators).
-- Reads the marts.account_lifecycle snapshot of D: each account's revenue_change = revenue_c - revenue_p is in
-- exactly one bucket (its bridge_bucket), so revenue_prev + new + reactivated + expansion + contraction + churned
-- + other = revenue exactly (decimal sums, no rounding).
-- The *_accounts columns count the accounts of each bucket.
-- Relation to portfolio_kpis: the NRR/GRR base (revenue_prev > 0) holds only retained and churned accounts, so when
-- all of those have revenue_prev > 0, nrr = (base + expansion + contraction + churned) / base and
-- grr = (base + contraction + churned) / base, with base = revenue_prev of the retained and churned accounts.
-- The 'all' row and every manager and team exist even without accounts (amounts 0); a segment exists when one of
-- its accounts is in the snapshot.

with

account_lifecycle as (
    select * from marts.account_lifecycle
    where list_contains($as_of_dates::date[], as_of_date)
        and as_of_date between list_min($as_of_dates::date[]) and list_max($as_of_dates::date[])
),

managers as (
    select * from staging.managers
),

bounds as (
    select distinct unnest($as_of_dates::date[]) as as_of_date
),

levelled as (
    -- Every account once per level it belongs to.
    select as_of_date, 'all' as level, 'all' as entity_id, * exclude (as_of_date) from account_lifecycle
    union all
    select as_of_date, 'segment', segment, * exclude (as_of_date) from account_lifecycle
    union all
    select account_lifecycle.as_of_date, 'manager', managers.manager_id, account_lifecycle.* exclude (as_of_date)
    from account_lifecycle
    inner join managers on account_lifecycle.manager_id = managers.manager_id
    union all
    select account_lifecycle.as_of_date, 'team', managers.team_id, account_lifecycle.* exclude (as_of_date)
    from account_lifecycle
    inner join managers on account_lifecycle.manager_id = managers.manager_id
),

entities as (
    select distinct as_of_date, level, entity_id from levelled
    union
    select as_of_date, 'all', 'all' from bounds
    union
    select bounds.as_of_date, 'manager', managers.manager_id from bounds cross join managers
    union
    select bounds.as_of_date, 'team', managers.team_id from bounds cross join managers
),

buckets as (
    select
        as_of_date,
        level,
        entity_id,
        count(*) as account_count,
        sum(revenue_p) as revenue_prev,
        sum(revenue_change) filter (where bridge_bucket = 'new') as new,
        sum(revenue_change) filter (where bridge_bucket = 'reactivated') as reactivated,
        sum(revenue_change) filter (where bridge_bucket = 'expansion') as expansion,
        sum(revenue_change) filter (where bridge_bucket = 'contraction') as contraction,
        sum(revenue_change) filter (where bridge_bucket = 'churned') as churned,
        sum(revenue_change) filter (where bridge_bucket = 'other') as other,
        sum(revenue_c) as revenue,
        count(*) filter (where bridge_bucket = 'new') as new_accounts,
        count(*) filter (where bridge_bucket = 'reactivated') as reactivated_accounts,
        count(*) filter (where bridge_bucket = 'expansion') as expansion_accounts,
        count(*) filter (where bridge_bucket = 'contraction') as contraction_accounts,
        count(*) filter (where bridge_bucket = 'churned') as churned_accounts,
        count(*) filter (where bridge_bucket = 'other') as other_accounts
    from levelled
    group by as_of_date, level, entity_id
),

final as (
    -- An empty bucket is 0 (of the amounts' decimal type), so the seven parts always add up.
    select
        entities.as_of_date,
        entities.level,
        entities.entity_id,
        coalesce(buckets.account_count, 0) as account_count,
        coalesce(buckets.revenue_prev, 0) as revenue_prev,
        coalesce(buckets.new, 0) as new,
        coalesce(buckets.reactivated, 0) as reactivated,
        coalesce(buckets.expansion, 0) as expansion,
        coalesce(buckets.contraction, 0) as contraction,
        coalesce(buckets.churned, 0) as churned,
        coalesce(buckets.other, 0) as other,
        coalesce(buckets.revenue, 0) as revenue,
        coalesce(buckets.new_accounts, 0) as new_accounts,
        coalesce(buckets.reactivated_accounts, 0) as reactivated_accounts,
        coalesce(buckets.expansion_accounts, 0) as expansion_accounts,
        coalesce(buckets.contraction_accounts, 0) as contraction_accounts,
        coalesce(buckets.churned_accounts, 0) as churned_accounts,
        coalesce(buckets.other_accounts, 0) as other_accounts
    from entities
    left join buckets
        on entities.as_of_date = buckets.as_of_date
        and entities.level = buckets.level
        and entities.entity_id = buckets.entity_id
)

select * from final
