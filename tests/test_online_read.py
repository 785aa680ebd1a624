"""Online reads against real stores: a real redis-server and the embedded SQLite store.

The same behaviour tests run on both backends. The central one: after a sync,
``get_online_features`` equals ``get_historical_features`` at the same instant
for every entity of the example, values and types, ttl expiry included.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import redis
import sqlglot

from featurelayer import FeatureStore, FieldStatus, ValidationError
from featurelayer._online.codec import decode_row

from .support.online import END, FEATURES, _offline, _store, _users, online_url
from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["online_url", "project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow


def test_online_equals_offline_at_the_same_instant(example: Path, online_url: str) -> None:
    users = _users(example)
    with _store(example, online_url, END) as store:
        report = store.sync(full=True)
        assert report.rows > 0 and report.written == report.rows
    # read at the sync's instant, and 20 days later: many activity rows have expired by their ttl
    for at in (END, END + dt.timedelta(days=20)):
        with _store(example, online_url, at) as store:
            online = store.get_online_features(FEATURES, [{"user_id": u} for u in users])
            offline = _offline(store, users, at)
            assert online.to_arrow().column_names == ["user_id", *(f.split(":")[1] for f in FEATURES)]
            for name in online.statuses:
                assert online.to_arrow().column(name).equals(offline.column(name)), (name, at)
                for value, status in zip(offline.column(name).to_pylist(), online.statuses[name], strict=True):
                    assert (status is FieldStatus.PRESENT) == (value is not None)
            statuses = online.statuses["daily_transactions"]
            assert statuses[-1] is FieldStatus.NOT_FOUND
            # each value's event timestamp is that of the warehouse row valid at the instant
            events = _events_at(store, at)
            stamped = online.to_dict(include_event_timestamps=True)
            for view, name in (f.split(":") for f in FEATURES):
                in_force = (FieldStatus.PRESENT, FieldStatus.NULL)
                expected = [
                    events[view].get(u) if s in in_force else None
                    for u, s in zip(users, online.statuses[name], strict=True)
                ]
                assert any(expected)
                assert stamped[f"{name}__ts"] == online.event_timestamps[name] == expected, (name, at)
            if at > END:  # null offline exactly where expired (within the 1-day retention) or not found online
                assert statuses.count(FieldStatus.PRESENT) < len(users) - 1

    # a row whose validity ended half a day ago is within the 1-day retention: expired, not "not found";
    # step through the days after the sync until some row does, so the check is never empty
    def daily(at: dt.datetime) -> list[FieldStatus]:
        with _store(example, online_url, at) as store:
            return store.get_online_features(FEATURES, [{"user_id": u} for u in users]).statuses["daily_transactions"]

    for day in range(1, 31):
        before, after = daily(END + dt.timedelta(days=day)), daily(END + dt.timedelta(days=day, hours=12))
        ended = [
            i
            for i, (a, b) in enumerate(zip(before, after, strict=True))
            if a is FieldStatus.PRESENT and b is not FieldStatus.PRESENT
        ]
        if ended:
            break
    assert ended, "no activity row expired in the 30 days after the sync"
    assert all(after[i] is FieldStatus.EXPIRED for i in ended)
    assert all(daily(END + dt.timedelta(days=day + 2))[i] is FieldStatus.NOT_FOUND for i in ended)  # retention over


def _events_at(store: FeatureStore, at: dt.datetime) -> dict[str, dict[int, dt.datetime]]:
    """Per view, each user's event timestamp of the row valid at ``at``, read from the feature table."""
    out = {}
    for name in ("user_activity", "user_profile"):
        view = store.registry.feature_view(name)
        query = sqlglot.parse_one(
            f"select user_id, {view.timestamp} from {view.relation} where valid_from <= ? and ? < valid_to",
            dialect="duckdb",
        )
        table = store.offline_store.to_arrow(query, [at, at])
        out[name] = dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    return out


def test_value_types_and_statuses_round_trip(project_dir: Path, online_url: str) -> None:
    build(project_dir, [Row((1,), BASE, None, 10)], [Row((1, "x"), BASE, None, 20)], ttl=60)
    features = [f"view_types:{f}" for f in ("f32", "happened_at", "day", "amount", "flag", "label", "small")]
    features.append("view_a:a_value")
    rows = [{"k1": 1}, {"k1": 2}, {"k1": 3}]
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: BASE) as store:
        store.sync(full=True)  # at minute 0 view_a's row (minute 0, ttl 60 s) is valid ...
    at = _minutes(30)  # ... and by minute 30 it has expired
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: at) as store:
        online = store.get_online_features(features, rows)
        offline = store.get_historical_features(
            pd.DataFrame({"k1": [1, 2, 3], "event_timestamp": [at] * 3}), features
        ).to_arrow()
    table = online.to_arrow()
    assert table.schema.field("f32").type == pa.float32()
    assert table.schema.field("happened_at").type == pa.timestamp("us")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert table.schema.field("small").type == pa.int16()
    for name in online.statuses:
        assert table.column(name).equals(offline.column(name)), name
    assert table.column("happened_at")[0].as_py() == dt.datetime(2024, 6, 1, 12, 34, 56, 789012)
    assert online.statuses["f32"] == [FieldStatus.PRESENT, FieldStatus.NULL, FieldStatus.NOT_FOUND]
    assert online.statuses["a_value"] == [FieldStatus.EXPIRED, FieldStatus.NOT_FOUND, FieldStatus.NOT_FOUND]


def test_request_errors_are_clear(example: Path, online_url: str) -> None:
    with _store(example, online_url, END) as store:
        with pytest.raises(ValidationError, match=r"lack join key\(s\) \['user_id'\]"):
            store.get_online_features(FEATURES, [{"customer": 1}])
        with pytest.raises(ValidationError, match="Did you mean 'user_profile'"):
            store.get_online_features(["user_profil:plan"], [{"user_id": 1}])
        with pytest.raises(ValidationError, match="not a int64 key"):
            store.get_online_features(["user_profile:plan"], [{"user_id": "not a number"}])
        with pytest.raises(ValidationError, match="same keys"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}, {"uid": 2}])
        with pytest.raises(ValidationError, match="has no 'x'"):  # a mapping that invents keys is not trusted
            store.get_online_features(["user_profile:plan"], [{"user_id": 1, "x": 2}, defaultdict(int, user_id=2)])
        with pytest.raises(ValidationError, match="list of dicts"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}, 2])


@pytest.mark.redis
def test_every_stored_value_decodes(example: Path, redis_url: str) -> None:
    with _store(example, redis_url, END) as store:
        store.sync(full=True)
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter(match="fl:*{*")]
    assert keys
    for value in client.mget(keys):
        row = decode_row(value)
        assert row.event > 0 and isinstance(row.values, list)
