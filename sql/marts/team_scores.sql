-- Team scores: the revenue-weighted mean of the scores of every account owned by the
-- team's managers (the same rule as manager_scores), with the team's retention figures
-- recomputed over its accounts (not averaged over managers).
with

accounts as (
    select * from marts.account_indicators where as_of_date = $as_of
),

scores as (
    select * from marts.account_scores where as_of_date = $as_of
),

managers as (
    select * from marts.manager_indicators where as_of_date = $as_of
),

grade_bands as (
    select
        unnest($grade_names::varchar[]) as grade,
        unnest($grade_mins::double[]) as min_score
),

teams as (
    select
        team_id,
        any_value(team_name) as team_name,
        count(*) as manager_count,
        avg(feedback_score) as feedback_score
    from managers
    group by team_id
),

book as (
    select
        a.team_id,
        count(*) as account_count,
        sum(a.revenue) as revenue,
        sum(a.revenue_prev) as revenue_prev,
        sum(a.revenue) filter (where a.revenue_prev > 0) as retained_revenue,
        sum(least(a.revenue, a.revenue_prev)) filter (where a.revenue_prev > 0) as gross_retained_revenue,
        sum(a.revenue_prev) filter (where a.revenue_prev > 0) as base_revenue,
        count(*) filter (where a.revenue_prev > 0) as base_accounts,
        count(*) filter (where a.revenue_prev > 0 and a.revenue > 0) as retained_accounts,
        sum(a.is_churned) as churned_accounts,
        count(s.score) as accounts_scored,
        count(*) filter (where s.is_key_account) as key_accounts,
        sum(greatest(s.revenue, 0) * s.score) filter (where s.score is not null) as weighted_points,
        sum(greatest(s.revenue, 0)) filter (where s.score is not null) as weight_total,
        avg(s.score) as mean_score,
        avg(s.completeness) as avg_completeness
    from accounts as a
    left join scores as s on s.account_id = a.account_id
    group by a.team_id
),

scored as (
    select
        $as_of::date as as_of_date,
        t.team_id,
        t.team_name,
        t.manager_count,
        coalesce(b.account_count, 0) as account_count,
        coalesce(b.accounts_scored, 0) as accounts_scored,
        coalesce(b.key_accounts, 0) as key_accounts,
        coalesce(b.revenue, 0) as revenue,
        coalesce(b.revenue_prev, 0) as revenue_prev,
        case when b.revenue_prev <> 0 then (b.revenue - b.revenue_prev) / b.revenue_prev end as revenue_growth,
        case when b.base_accounts > 0 then b.retained_revenue / b.base_revenue end as nrr,
        case when b.base_accounts > 0 then b.gross_retained_revenue / b.base_revenue end as grr,
        case when b.base_accounts > 0 then b.retained_accounts / b.base_accounts end as logo_retention,
        coalesce(b.churned_accounts, 0) as churned_accounts,
        t.feedback_score,
        b.avg_completeness,
        case
            when b.weight_total > 0 then b.weighted_points / b.weight_total
            else b.mean_score
        end as score
    from teams as t
    left join book as b on b.team_id = t.team_id
),

final as (
    select
        scored.*,
        case when score is not null then rank() over (order by score desc nulls last) end as rank,
        (
            select g.grade from grade_bands as g
            where scored.score >= g.min_score
            order by g.min_score desc
            limit 1
        ) as grade
    from scored
)

select * from final
