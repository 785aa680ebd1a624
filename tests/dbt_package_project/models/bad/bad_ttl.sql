{{ feature_layer.valid_intervals(ref('device_events')) }}
