-- Account manager scores: the revenue-weighted mean of the scores of the accounts in
-- the manager's book (accounts with no positive revenue weigh nothing unless none has
-- revenue, then the plain mean is used), with the book's indicators beside it.
with

managers as (
    select * from marts.manager_indicators where as_of_date = $as_of
),

scores as (
    select * from marts.account_scores where as_of_date = $as_of
),

grade_bands as (
    select
        unnest($grade_names::varchar[]) as grade,
        unnest($grade_mins::double[]) as min_score
),

book as (
    select
        manager_id,
        count(score) as accounts_scored,
        count(*) filter (where is_key_account) as key_accounts,
        sum(greatest(revenue, 0) * score) filter (where score is not null) as weighted_points,
        sum(greatest(revenue, 0)) filter (where score is not null) as weight_total,
        avg(score) as mean_score,
        avg(completeness) as avg_completeness
    from scores
    group by manager_id
),

scored as (
    select
        m.as_of_date,
        m.manager_id,
        m.manager_name,
        m.team_id,
        m.team_name,
        m.account_count,
        coalesce(b.accounts_scored, 0) as accounts_scored,
        coalesce(b.key_accounts, 0) as key_accounts,
        m.revenue,
        m.revenue_prev,
        m.revenue_growth,
        m.nrr,
        m.grr,
        m.logo_retention,
        m.churned_accounts,
        m.feedback_score,
        b.avg_completeness,
        case
            when b.weight_total > 0 then b.weighted_points / b.weight_total
            else b.mean_score
        end as score
    from managers as m
    left join book as b on b.manager_id = m.manager_id
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
