with transactions as (
    select * from {{ ref('stg_transactions') }}
),

logins as (
    select * from {{ ref('stg_logins') }}
),

daily_transactions as (
    -- one row per user and day with at least one transaction
    select
        user_id,
        {{ dbt.date_trunc('day', 'transaction_at') }} as activity_day,
        count(*) as transactions,
        sum(amount) as amount,
        max(ingested_at) as ingested_at
    from transactions
    group by 1, 2
),

daily_logins as (
    -- one row per user and day with at least one login
    select
        user_id,
        {{ dbt.date_trunc('day', 'login_at') }} as activity_day,
        max(ingested_at) as ingested_at
    from logins
    group by 1, 2
),

activity_days as (
    select user_id, activity_day from daily_transactions
    union
    select user_id, activity_day from daily_logins
),

rolling_7d as (
    -- transactions of the day and the six days before it
    select
        activity_days.user_id,
        activity_days.activity_day,
        sum(daily_transactions.transactions) as transactions_7d,
        sum(daily_transactions.amount) as amount_7d
    from activity_days
    left join daily_transactions
        on daily_transactions.user_id = activity_days.user_id
        and daily_transactions.activity_day > {{ dbt.dateadd('day', -7, 'activity_days.activity_day') }}
        and daily_transactions.activity_day <= activity_days.activity_day
    group by 1, 2
),

days as (
    select
        activity_days.user_id,
        activity_days.activity_day,
        daily_transactions.transactions,
        rolling_7d.transactions_7d,
        rolling_7d.amount_7d,
        max(daily_logins.activity_day) over (
            partition by activity_days.user_id
            order by activity_days.activity_day
            rows between unbounded preceding and current row
        ) as last_login_day,
        case
            when daily_logins.ingested_at is null then daily_transactions.ingested_at
            when daily_transactions.ingested_at is null then daily_logins.ingested_at
            when daily_logins.ingested_at > daily_transactions.ingested_at then daily_logins.ingested_at
            else daily_transactions.ingested_at
        end as ingested_at
    from activity_days
    inner join rolling_7d
        on rolling_7d.user_id = activity_days.user_id
        and rolling_7d.activity_day = activity_days.activity_day
    left join daily_transactions
        on daily_transactions.user_id = activity_days.user_id
        and daily_transactions.activity_day = activity_days.activity_day
    left join daily_logins
        on daily_logins.user_id = activity_days.user_id
        and daily_logins.activity_day = activity_days.activity_day
),

features as (
    select
        -- entity
        user_id,
        -- a day's features are known when the day is over
        cast({{ dbt.dateadd('day', 1, 'activity_day') }} as {{ dbt.type_timestamp() }}) as event_timestamp,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as created_timestamp,
        -- features
        cast(coalesce(transactions, 0) as integer) as daily_transactions,
        cast(amount_7d / nullif(transactions_7d, 0) as double precision) as avg_transaction_value_7d,
        cast({{ dbt.datediff('last_login_day', 'activity_day', 'day') }} as integer) as last_login_days_ago
    from days
)

{{ feature_layer.valid_intervals('features') }}
