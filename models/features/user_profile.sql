with profile_changes as (
    select * from {{ ref('stg_profile_changes') }}
),

features as (
    select
        -- entity
        user_id,
        -- a change is valid from the moment it happened; a correction of the
        -- same change has the same changed_at and a later ingested_at, and wins
        changed_at as event_timestamp,
        ingested_at as created_timestamp,
        -- features
        country,
        plan,
        marketing_opt_in
    from profile_changes
)

{{ feature_layer.valid_intervals('features') }}
