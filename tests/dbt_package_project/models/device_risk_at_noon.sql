select account_id, device_id, risk
from {{ feature_layer.as_of(ref('device_risk'), '2025-01-01 12:00:00') }} as rows_at_noon
