with source as (
    select * from {{ source('raw', 'logins') }}
),

renamed as (
    select
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        -- times (UTC)
        cast(login_at as {{ dbt.type_timestamp() }}) as login_at,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
)

select * from renamed
