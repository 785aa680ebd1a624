with source as (
    select * from {{ source('raw', 'profile_changes') }}
),

renamed as (
    select
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        -- attributes
        cast(country as {{ dbt.type_string() }}) as country,
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast(marketing_opt_in as {{ dbt.type_boolean() }}) as marketing_opt_in,
        -- times (UTC)
        cast(changed_at as {{ dbt.type_timestamp() }}) as changed_at,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
)

select * from renamed
