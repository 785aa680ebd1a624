"""The example project's Python on-demand transforms.

Found through `vars: feature_layer: transforms_module` in dbt_project.yml. Each
function receives the same columns offline (after training retrieval) and
online (after get_online_features), as a pandas DataFrame or a pyarrow Table.
"""

from __future__ import annotations

import pandas as pd

from featurelayer import on_demand_transform


@on_demand_transform(
    inputs=["cart_value", "avg_transaction_value_7d"], outputs={"spend_vs_usual": "double"}, mode="pandas"
)
def spend_vs_usual(frame: pd.DataFrame) -> pd.DataFrame:
    """How this basket compares with the user's usual transaction (null without history)."""
    usual = frame["avg_transaction_value_7d"].where(frame["avg_transaction_value_7d"] > 0)
    return pd.DataFrame({"spend_vs_usual": frame["cart_value"] / usual})
