-- The user_activity rows valid now; a view, so "now" is the time of the query.
select * from {{ feature_layer.current_rows(ref('user_activity')) }} as current_rows
