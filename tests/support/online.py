"""What the ``test_online_*`` modules share: each online backend, and the example's features.

The behaviour tests take the ``online_url`` fixture, so the same test runs on both
backends: a real redis-server (the session's, started by ``tests/conftest.py``) and
the embedded SQLite store. A test module imports the fixture by name and lists it in
its ``__all__``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from featurelayer import FeatureStore

from .projects import EXAMPLE_END

END = EXAMPLE_END
FEATURES = [
    "user_activity:daily_transactions",
    "user_activity:avg_transaction_value_7d",
    "user_activity:last_login_days_ago",
    "user_profile:plan",
    "user_profile:country",
    "user_profile:marketing_opt_in",
]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each online backend: a clean Redis database, or a fresh SQLite file."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'online.sqlite'}"


def _store(root: Path, url: str, at: dt.datetime) -> FeatureStore:
    return FeatureStore(root, online_url=url, clock=lambda: at)


def _users(root: Path) -> list[int]:
    with FeatureStore(root) as store:
        table = store.get_features_as_of(["user_profile:plan"], END).to_arrow()
    return [*table.column("user_id").to_pylist(), 10_000_001]  # and one that never existed


def _offline(store: FeatureStore, users: list[int], at: dt.datetime) -> pa.Table:
    entity = pd.DataFrame({"user_id": users, "event_timestamp": [at] * len(users)})
    return store.get_historical_features(entity, FEATURES).to_arrow()
