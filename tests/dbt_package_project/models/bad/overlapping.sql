-- intervals written by hand, wrongly: the generic test must catch the overlap
select 1 as account_id, 'a' as device_id,
       timestamp '2025-01-01 10:00:00' as valid_from, timestamp '2025-01-01 12:00:00' as valid_to
union all
select 1, 'a', timestamp '2025-01-01 11:00:00', timestamp '2025-01-01 13:00:00'
