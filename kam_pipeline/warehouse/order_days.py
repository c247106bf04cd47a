"""state.account_order_days: per account and order date, the running totals account_lifecycle reads,
kept up to date at the cost of the changed order lines, not of the whole history.

A row (account, order date X) holds the totals of the account's completed and returned lines dated
on or before X (signed net, margin of the lines that carry cost data, line counts, first and last
completed order dates) and `next_order_date`, its next order date (NULL for the last): the row
with order_date < cut <= next_order_date is "everything dated before the cut". The table does not
depend on the as-of date, so a backfill or a rerun of an earlier date reads it as it is.

The totals are sums over delivered files: state.order_file_days keeps each file's figures per
account and order date, state.order_files what they were computed from (the file's typed row
count, which of its rows staging excludes, and its load in raw.ingest_log). A refresh finds the
files whose signature changed (new, loaded again, removed, or rows newly excluded or let back by
the cross-row rules), recomputes only their figures from staging.orders, and rewrites the running
totals of the accounts they touch from the earliest order date touched on, starting from the
account's last kept row. A daily file therefore costs its own lines and the rows of the accounts
it names. A file's typed rows are trusted to change only when the ingest loads it again (a new
ingest_log row); `refresh_order_days(conn, incremental=False)` rebuilds everything.
"""

from __future__ import annotations

import duckdb

from kam_pipeline.warehouse.database import transaction

TABLE = "account_order_days"
# What the state is computed from: a mart that reads it depends on these (its Dagster lineage).
READS = frozenset({("staging", "orders")})
# Temporary tables of this connection while a refresh runs.
_CHANGED = "kam_changed_order_files"
_REMOVED = "kam_removed_order_file_days"
_AFFECTED = "kam_affected_accounts"

_CREATE = """
create schema if not exists state;
create table if not exists state.order_files (_source_file varchar primary key, signature varchar not null);
create table if not exists state.order_file_days (
    _source_file varchar not null,
    account_id varchar not null,
    order_date date not null,
    net decimal(38, 4) not null,
    margin decimal(38, 4),
    lines bigint not null,
    costed_lines bigint not null,
    completed_lines bigint not null
);
create table if not exists state.account_order_days (
    account_id varchar not null,
    order_date date not null,
    next_order_date date,
    net_before decimal(38, 4) not null,
    margin_before decimal(38, 4) not null,
    lines_before bigint not null,
    costed_lines_before bigint not null,
    first_completed_before date,
    last_completed_before date
);
"""

# What each delivered orders file contributes, as a signature: its typed rows, the ones staging
# excludes (quarantined rows and repeated copies, which a later file can change) and its load.
_SIGNATURES = """
select
    t._source_file,
    concat_ws(
        '/', t.typed_rows, coalesce(x.excluded_rows, 0), coalesce(x.excluded_hash, 0),
        coalesce(cast(l.ingested_at as varchar), ''), coalesce(l.sha256, '')
    ) as signature
from (select _source_file, count(*) as typed_rows from staging.orders_typed group by all) as t
left join (
    select _source_file, count(*) as excluded_rows, sum(hash(_row_number)) as excluded_hash
    from staging.orders_excluded
    group by all
) as x using (_source_file)
left join raw.ingest_log as l on l.source = 'orders' and l.file_name = t._source_file
"""

# One file's figures per account and order date: signed net (returned lines count -abs, cancelled
# lines are left out), margin of the lines that carry cost data, and the line counts.
_FILE_DAYS = """
select
    orders._source_file,
    orders.account_id,
    orders.order_date,
    sum(case when orders.status = 'returned' then -abs(orders.net_amount) else orders.net_amount end) as net,
    sum(
        case when orders.status = 'returned' then -abs(orders.net_amount) else orders.net_amount end
        - case when orders.status = 'returned' then -abs(orders.cost_amount) else orders.cost_amount end
    ) as margin,
    count(*) as lines,
    count(orders.cost_amount) as costed_lines,
    count(*) filter (where orders.status = 'completed') as completed_lines
from staging.orders as orders
where orders.status in ('completed', 'returned')
    and orders.account_id is not null
    and orders.order_date is not null
    and list_contains($files::varchar[], orders._source_file)
group by all
"""

# The running totals of the affected accounts from their first touched date on, continuing from
# the last row kept before it (base).
_TOTALS = f"""
with
days as (
    select
        f.account_id,
        f.order_date,
        sum(f.net) as net,
        sum(f.margin) as margin,
        sum(f.lines) as lines,
        sum(f.costed_lines) as costed_lines,
        sum(f.completed_lines) > 0 as has_completed
    from state.order_file_days as f
    inner join {_AFFECTED} as a on f.account_id = a.account_id and f.order_date >= a.since_date
    group by all
),
base as (
    select distinct on (d.account_id) d.*
    from state.account_order_days as d
    semi join {_AFFECTED} using (account_id)
    order by d.account_id, d.order_date desc
)
select
    days.account_id,
    days.order_date,
    lead(days.order_date) over to_date as next_order_date,
    coalesce(base.net_before, 0) + sum(days.net) over to_date as net_before,
    coalesce(base.margin_before, 0) + coalesce(sum(days.margin) over to_date, 0) as margin_before,
    coalesce(base.lines_before, 0) + sum(days.lines) over to_date as lines_before,
    coalesce(base.costed_lines_before, 0) + sum(days.costed_lines) over to_date as costed_lines_before,
    coalesce(base.first_completed_before, min(case when days.has_completed then days.order_date end) over to_date)
        as first_completed_before,
    coalesce(max(case when days.has_completed then days.order_date end) over to_date, base.last_completed_before)
        as last_completed_before
from days
left join base using (account_id)
window to_date as (partition by days.account_id order by days.order_date rows between unbounded preceding and current row)
"""


def ensure_order_days(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the state schema and its (empty) tables when they do not exist."""
    conn.execute(_CREATE)


def refresh_order_days(conn: duckdb.DuckDBPyConnection, *, incremental: bool = True) -> dict[str, int]:
    """Bring state.account_order_days up to date with staging.orders (see the module's docstring); return
    the files and accounts recomputed. Not `incremental`: every file and account, as from scratch."""
    with transaction(conn):
        ensure_order_days(conn)
        if not incremental:
            for table in ("order_files", "order_file_days", "account_order_days"):
                conn.execute(f"delete from state.{table}")
        conn.execute(
            f"""
            create or replace temp table {_CHANGED} as
            select _source_file, current.signature
            from ({_SIGNATURES}) as current
            full join state.order_files as stored using (_source_file)
            where current.signature is distinct from stored.signature
            """
        )
        files = [row[0] for row in conn.execute(f"select _source_file from {_CHANGED}").fetchall()]
        if not files:
            conn.execute(f"drop table {_CHANGED}")
            return {"files": 0, "accounts": 0}
        # The accounts whose lines changed, from the earliest order date of a line removed or added:
        # the lines removed are noted before the files' figures are replaced, the new figures go
        # straight into the state (a temporary copy of them cost 2 CPU-s of a full load at 10M).
        changed = "list_contains($files::varchar[], _source_file)"
        removed = f"select account_id, order_date from state.order_file_days where {changed}"
        conn.execute(f"create or replace temp table {_REMOVED} as {removed}", {"files": files})
        conn.execute(f"delete from state.order_file_days where {changed}", {"files": files})
        conn.execute(f"insert into state.order_file_days {_FILE_DAYS}", {"files": files})
        conn.execute(
            f"""
            create or replace temp table {_AFFECTED} as
            select account_id, min(order_date) as since_date
            from ({removed} union all select account_id, order_date from {_REMOVED})
            group by account_id
            """,
            {"files": files},
        )
        conn.execute(
            f"""
            delete from state.account_order_days as d using {_AFFECTED} as a
            where d.account_id = a.account_id and d.order_date >= a.since_date
            """
        )
        conn.execute(f"insert into state.account_order_days by name {_TOTALS}")
        # The last kept row of an affected account now continues at its first rewritten date (or is last).
        conn.execute(
            f"""
            update state.account_order_days as d
            set next_order_date = nxt.first_date
            from (
                select a.account_id, a.since_date, min(n.order_date) as first_date
                from {_AFFECTED} as a
                left join state.account_order_days as n
                    on n.account_id = a.account_id and n.order_date >= a.since_date
                group by all
            ) as nxt
            where d.account_id = nxt.account_id
                and d.order_date < nxt.since_date
                and (d.next_order_date is null or d.next_order_date >= nxt.since_date)
            """
        )
        conn.execute(
            f"""
            delete from state.order_files where _source_file in (select _source_file from {_CHANGED});
            insert into state.order_files select * from {_CHANGED} where signature is not null;
            """
        )
        accounts = conn.execute(f"select count(*) from {_AFFECTED}").fetchall()[0][0]
        for table in (_CHANGED, _REMOVED, _AFFECTED):
            conn.execute(f"drop table {table}")
    return {"files": len(files), "accounts": accounts}
