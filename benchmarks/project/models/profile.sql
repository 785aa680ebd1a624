{{ feature_layer.valid_intervals(source('bench', 'profile_rows')) }}
