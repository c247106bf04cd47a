-- marts.book_indicators: the book of business of every account manager (level 'manager') and team (level 'team')
-- at every as-of date D of $as_of_dates (one query computes a whole backfill range): the inputs of the
-- manager/team balanced scorecard and of their KPI attainment.
-- Account figures come from the marts.account_indicators and marts.account_scores snapshots of D.
-- Ratios are recomputed over the book's accounts (not averaged): nrr, grr, logo_retention over accounts with
-- revenue_prev > 0; share_of_wallet = revenue / wallet over accounts with a wallet estimate; complaint_rate over
-- accounts with orders; avg_resolution_hours (open complaints count with their age at D) and sla_breach_rate
-- weighted by complaints.
-- csat and nps are means of the accounts' values weighted by their survey_count.
-- account_score is the revenue-weighted mean of the book's account scores (accounts with revenue <= 0 weigh
-- nothing; when no scored account has revenue, the plain mean).
-- feedback_score: 360 feedback in C = [D - W, D); per reviewer role the mean score, then the mean of the roles
-- present weighted by $role_weights (equal weights reproduce INDICATORS.md), rescaled (x - 1) / 4 * 100;
-- a team's feedback_score is the mean of its managers' scores.
-- new_accounts, reactivated_accounts count lifecycle stages; new_revenue_share = revenue of new accounts / revenue
-- (NULL when revenue is 0); new_key_accounts = key accounts whose stage is new (new key accounts won).
-- Managers and teams without accounts still get a row (counts 0, ratios NULL).
-- Non-integer doubles are summed as decimal(38, 12): exact, so the result does not depend on the order
-- DuckDB's parallel aggregation adds them in (identical inputs give byte-identical marts).

with

managers as (
    select * from staging.managers
),

bounds as (
    select distinct unnest($as_of_dates::date[]) as as_of_date
),

account_indicators as (
    select * from marts.account_indicators
    where list_contains($as_of_dates::date[], as_of_date)
        and as_of_date between list_min($as_of_dates::date[]) and list_max($as_of_dates::date[])
),

account_scores as (
    select * from marts.account_scores
    where list_contains($as_of_dates::date[], as_of_date)
        and as_of_date between list_min($as_of_dates::date[]) and list_max($as_of_dates::date[])
),

feedback as (
    select * from staging.feedback
),

role_weights as (
    select
        unnest($role_names::varchar[]) as reviewer_role,
        unnest($role_weights::double[]) as role_weight
),

accounts as (
    select
        ai.as_of_date,
        managers.manager_id,
        managers.team_id,
        ai.revenue,
        ai.revenue_prev,
        ai.is_churned,
        ai.csat,
        ai.nps,
        ai.survey_count,
        ai.wallet_amount_window,
        ai.active_month_ratio,
        ai.order_count,
        ai.complaint_count,
        ai.open_complaints,
        ai.avg_resolution_hours,
        ai.sla_breach_rate,
        ai.lifecycle_stage,
        s.score,
        s.completeness,
        s.is_key_account
    from account_indicators as ai
    inner join managers on managers.manager_id = ai.manager_id
    left join account_scores as s on s.as_of_date = ai.as_of_date and s.account_id = ai.account_id
),

book as (
    select
        as_of_date,
        case when grouping(manager_id) = 0 then 'manager' else 'team' end as level,
        coalesce(manager_id, team_id) as entity_id,
        count(*) as account_count,
        count(score) as accounts_scored,
        count(*) filter (where is_key_account) as key_accounts,
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
        sum(revenue) filter (where lifecycle_stage = 'new') as new_revenue,
        count(*) filter (where lifecycle_stage = 'new' and is_key_account) as new_key_accounts,
        sum(cast(greatest(revenue, 0) * score as decimal(38, 12))) filter (where score is not null) as score_points,
        sum(greatest(revenue, 0)) filter (where score is not null) as score_weight,
        avg(cast(score as decimal(38, 12))) as mean_score,
        avg(cast(completeness as decimal(38, 12))) as avg_completeness,
        sum(cast(csat * survey_count as decimal(38, 12))) / nullif(sum(survey_count) filter (where csat is not null), 0) as csat,
        sum(cast(nps * survey_count as decimal(38, 12))) / nullif(sum(survey_count) filter (where nps is not null), 0) as nps,
        sum(revenue) filter (where wallet_amount_window > 0) as wallet_revenue,
        sum(cast(wallet_amount_window as decimal(38, 12))) filter (where wallet_amount_window > 0) as wallet_total,
        avg(cast(active_month_ratio as decimal(38, 12))) as active_month_ratio,
        sum(complaint_count) filter (where order_count > 0) as rated_complaints,
        sum(order_count) as order_count,
        sum(cast(avg_resolution_hours * complaint_count as decimal(38, 12)))
            / nullif(sum(complaint_count) filter (where avg_resolution_hours is not null), 0)
            as avg_resolution_hours,
        sum(cast(sla_breach_rate * complaint_count as decimal(38, 12)))
            / nullif(sum(complaint_count) filter (where sla_breach_rate is not null), 0) as sla_breach_rate
    from accounts
    group by grouping sets ((as_of_date, manager_id), (as_of_date, team_id))
),

feedback_by_role as (
    select
        bounds.as_of_date,
        feedback.manager_id,
        feedback.reviewer_role,
        avg(cast(feedback.score as decimal(38, 12))) as role_score,
        count(*) as review_count
    from feedback
    inner join bounds
        on feedback.reviewed_on >= bounds.as_of_date - $window_days::integer
        and feedback.reviewed_on < bounds.as_of_date
    where feedback.reviewed_on >= list_min($as_of_dates::date[]) - $window_days::integer
        and feedback.reviewed_on < list_max($as_of_dates::date[])
    group by bounds.as_of_date, feedback.manager_id, feedback.reviewer_role
),

manager_feedback as (
    select
        f.as_of_date,
        f.manager_id,
        (sum(cast(f.role_score * w.role_weight as decimal(38, 12))) / nullif(sum(cast(w.role_weight as decimal(38, 12))), 0) - 1) / 4 * 100 as feedback_score,
        sum(f.review_count) as feedback_count
    from feedback_by_role as f
    inner join role_weights as w on w.reviewer_role = f.reviewer_role
    group by f.as_of_date, f.manager_id
),

entities as (
    select
        bounds.as_of_date,
        'manager' as level,
        managers.manager_id as entity_id,
        managers.manager_id,
        managers.manager_name,
        managers.team_id,
        managers.team_name,
        1 as manager_count,
        manager_feedback.feedback_score,
        coalesce(manager_feedback.feedback_count, 0) as feedback_count
    from managers
    cross join bounds
    left join manager_feedback
        on manager_feedback.as_of_date = bounds.as_of_date
        and manager_feedback.manager_id = managers.manager_id
    union all
    select
        bounds.as_of_date,
        'team' as level,
        managers.team_id as entity_id,
        null as manager_id,
        null as manager_name,
        managers.team_id,
        any_value(managers.team_name) as team_name,
        count(*) as manager_count,
        avg(cast(manager_feedback.feedback_score as decimal(38, 12))) as feedback_score,
        coalesce(sum(manager_feedback.feedback_count), 0) as feedback_count
    from managers
    cross join bounds
    left join manager_feedback
        on manager_feedback.as_of_date = bounds.as_of_date
        and manager_feedback.manager_id = managers.manager_id
    group by bounds.as_of_date, managers.team_id
),

final as (
    select
        e.as_of_date,
        e.level,
        e.entity_id,
        e.manager_id,
        e.manager_name,
        e.team_id,
        e.team_name,
        e.manager_count,
        coalesce(b.account_count, 0) as account_count,
        coalesce(b.accounts_scored, 0) as accounts_scored,
        coalesce(b.key_accounts, 0) as key_accounts,
        coalesce(b.revenue, 0) as revenue,
        coalesce(b.revenue_prev, 0) as revenue_prev,
        cast(b.revenue - b.revenue_prev as double) / nullif(cast(b.revenue_prev as double), 0) as revenue_growth,
        cast(b.base_revenue as double) / nullif(cast(b.base_revenue_prev as double), 0) as nrr,
        cast(b.base_revenue_kept as double) / nullif(cast(b.base_revenue_prev as double), 0) as grr,
        cast(b.retained_accounts as double) / nullif(b.base_accounts, 0) as logo_retention,
        cast(coalesce(b.churned_accounts, 0) as bigint) as churned_accounts,
        coalesce(b.new_accounts, 0) as new_accounts,
        coalesce(b.reactivated_accounts, 0) as reactivated_accounts,
        cast(coalesce(b.new_revenue, 0) as double) / nullif(cast(b.revenue as double), 0) as new_revenue_share,
        coalesce(b.new_key_accounts, 0) as new_key_accounts,
        case
            when b.score_weight > 0 then cast(b.score_points as double) / cast(b.score_weight as double)
            else b.mean_score
        end as account_score,
        b.avg_completeness,
        b.csat,
        b.nps,
        cast(b.wallet_revenue as double) / nullif(b.wallet_total, 0) as share_of_wallet,
        b.active_month_ratio,
        100.0 * b.rated_complaints / nullif(b.order_count, 0) as complaint_rate,
        b.avg_resolution_hours,
        b.sla_breach_rate,
        e.feedback_score,
        cast(e.feedback_count as bigint) as feedback_count
    from entities as e
    left join book as b on b.as_of_date = e.as_of_date and b.level = e.level and b.entity_id = e.entity_id
)

select * from final
