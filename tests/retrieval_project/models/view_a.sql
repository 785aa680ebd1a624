{{ feature_layer.valid_intervals(source('raw', 'raw_a')) }}
