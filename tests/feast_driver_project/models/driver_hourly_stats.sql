{{ feature_layer.valid_intervals(ref('driver_stats')) }}
