{{ feature_layer.valid_intervals(source('bench', 'activity_rows')) }}
