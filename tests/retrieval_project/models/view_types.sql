-- Static rows with one feature of each kind, for type round trips (offline and online).
with raw_values as (
    select * from (
        values
            (1, timestamp '2025-01-01 00:00:00', cast(1.5 as real), timestamp '2024-06-01 12:34:56.789012',
             date '2024-06-01', cast(12.34 as decimal(10, 2)), true, 'a', cast(7 as smallint)),
            (2, timestamp '2025-01-01 00:00:00', cast(null as real), cast(null as timestamp),
             cast(null as date), cast(null as decimal(10, 2)), cast(null as boolean), cast(null as varchar),
             cast(null as smallint))
    ) as t (k1, ts, f32, happened_at, day, amount, flag, label, small)
),

typed_rows as (
    select cast(k1 as bigint) as k1, ts, f32, happened_at, day, amount, flag, label, small
    from raw_values
)

{{ feature_layer.valid_intervals('typed_rows') }}
