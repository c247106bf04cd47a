-- intermediate.account_wallet_figures: the wallet of each account over the window C of each as-of date, prorated by days.
-- One row per account and as-of date D in $as_of_dates with wallet data for a
-- year overlapping C = [D - $window_days, D): wallet_amount_window, the account's wallet over C.
-- Each year's wallet is prorated by the days of C it holds (intermediate.window_years); missing years are filled by
-- scaling the available years up to W days. The prorated parts are summed as decimal(38, 12): exact, so the result
-- does not depend on the order DuckDB adds them in.

with

wallet as (
    select * from staging.wallet
),

window_years as (
    select * from intermediate.window_years
    where list_contains($as_of_dates::date[], as_of_date)
),

final as (
    -- With every year present, the scale factor W / sum(days_in_window) is exactly 1.
    select
        window_years.as_of_date,
        wallet.account_id,
        cast(sum(cast(wallet.wallet_amount * window_years.days_in_window / window_years.days_in_year as decimal(38, 12)))
            as double) * $window_days::integer / sum(window_years.days_in_window) as wallet_amount_window
    from wallet
    inner join window_years
        on wallet.year = window_years.year
    group by window_years.as_of_date, wallet.account_id
)

select * from final
