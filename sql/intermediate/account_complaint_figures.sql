-- intermediate.account_complaint_figures: complaint figures per account and as-of date (complaints of C, resolution hours, SLA breaches, open ones).
-- One row per account and as-of date D in $as_of_dates with at least one
-- complaint opened in C, as timestamps [D - $window_days 00:00, D 00:00): the complaint figures of
-- marts.account_indicators. A complaint resolved at or after D 00:00 is still open at D.
-- avg_resolution_hours: mean over the complaints of (resolved_at, or D 00:00 while open) - opened_at;
-- sla_breach_rate: share of them whose hours so counted exceed the SLA of their severity ($sla_<severity>_hours);
-- open_complaints: those still open at D.

with

complaints as (
    select * from staging.complaints
),

bounds as (
    select
        dates.as_of_date,
        dates.as_of_date - $window_days::integer as current_start
    from (select distinct unnest($as_of_dates::date[]) as as_of_date) as dates
),

complaints_in_window as (
    select
        bounds.as_of_date,
        complaints.account_id,
        coalesce(complaints.resolved_at < bounds.as_of_date::timestamp, false) as is_resolved,
        -- Hours to resolution, or the age at D 00:00 while still open at D: an open complaint is never the best case.
        epoch(
            case
                when complaints.resolved_at < bounds.as_of_date::timestamp then complaints.resolved_at
                else bounds.as_of_date::timestamp
            end - complaints.opened_at
        ) / 3600.0 as resolution_hours,
        case complaints.severity
            when 'low' then $sla_low_hours::double
            when 'medium' then $sla_medium_hours::double
            when 'high' then $sla_high_hours::double
            when 'critical' then $sla_critical_hours::double
        end as sla_hours
    from complaints
    inner join bounds
        on complaints.opened_at >= bounds.current_start::timestamp
        and complaints.opened_at < bounds.as_of_date::timestamp
),

final as (
    select
        as_of_date,
        account_id,
        count(*) as complaint_count,
        avg(cast(resolution_hours as decimal(38, 12))) as avg_resolution_hours,
        -- Resolved later than the SLA, or still open and already older than it at D.
        cast(count(*) filter (where resolution_hours > sla_hours) as double) / nullif(count(*), 0) as sla_breach_rate,
        count(*) filter (where not is_resolved) as open_complaints
    from complaints_in_window
    group by as_of_date, account_id
)

select * from final
