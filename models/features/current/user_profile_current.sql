-- The user_profile rows valid now; a view, so "now" is the time of the query.
select * from {{ feature_layer.current_rows(ref('user_profile')) }} as current_rows
