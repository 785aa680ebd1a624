with source as (
    select * from {{ source('raw', 'transactions') }}
),

renamed as (
    select
        -- ids
        cast(transaction_id as {{ dbt.type_bigint() }}) as transaction_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        -- values
        cast(amount as double precision) as amount,
        -- times (UTC)
        cast(transaction_at as {{ dbt.type_timestamp() }}) as transaction_at,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
)

select * from renamed
