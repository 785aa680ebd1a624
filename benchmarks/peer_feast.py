"""The peer: Feast on the same Parquet files, in Feast's own virtual environment.

    <feast-venv>/bin/python benchmarks/peer_feast.py historical|materialize|online --data DIR ...

Run by benchmarks/run.py, one measurement per process; it prints one result
line. Imports nothing of featurelayer: the feature definitions below are the
Feast spelling of benchmarks/project (two views keyed on user_id, the
activity view with a 30-day ttl and a created timestamp, the profile view
with none; a service of both plus the same transform, written as a pandas
on-demand feature view).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pandas as pd  # noqa: E402  (Feast reads the transform's annotations from this module)

from _measure import emit, latency  # noqa: E402
from workload import FEATURES, SIZES, START, Workload, online_requests  # noqa: E402

warnings.filterwarnings("ignore")


def feature_store(data: Path, offline: str, redis_url: str | None, registry: str = "registry.db") -> tuple[Any, Any]:
    """A Feast store over the workload's files, with its definitions applied; and the service."""
    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.repo_config import RegistryConfig
    from feast.types import Float64, Int32, String
    from feast.value_type import ValueType

    repo = data / "feast"
    repo.mkdir(exist_ok=True)
    online: dict[str, str] = {"type": "sqlite", "path": str(repo / "online.db")}
    if redis_url is not None:  # redis://host:port/db -> Feast's "host:port,db=N"
        host_port, _, db = redis_url.removeprefix("redis://").partition("/")
        online = {"type": "redis", "connection_string": f"{host_port},db={db or 0}"}
    config = RepoConfig(
        project="bench",
        provider="local",
        registry=RegistryConfig(path=str(repo / registry), cache_ttl_seconds=0),
        offline_store={"type": offline},
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=str(repo),
    )
    store = FeatureStore(config=config)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    activity = FeatureView(
        name="activity",
        entities=[user],
        ttl=dt.timedelta(days=30),
        schema=[Field(name="daily_transactions", dtype=Int32), Field(name="avg_transaction_value_7d", dtype=Float64)],
        source=FileSource(
            path=str(data / "activity_rows.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
        ),
    )
    profile = FeatureView(
        name="profile",
        entities=[user],
        ttl=dt.timedelta(0),  # Feast's spelling of "no ttl"
        schema=[Field(name="plan", dtype=String), Field(name="credit_score", dtype=Float64)],
        source=FileSource(path=str(data / "profile_rows.parquet"), timestamp_field="event_timestamp"),
    )

    @on_demand_feature_view(sources=[activity], schema=[Field(name="engagement", dtype=Float64)], mode="pandas")
    def engagement(inputs: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame()
        out["engagement"] = inputs["daily_transactions"] * 0.5 + inputs["avg_transaction_value_7d"] * 0.3
        return out

    service = FeatureService(name="bench_service", features=[activity, profile, engagement])
    store.apply([user, activity, profile, engagement, service])
    return store, service


def historical(data: Path, offline: str, out: Path | None) -> dict[str, object]:
    import pyarrow.parquet as pq

    store, _ = feature_store(data, offline, None)
    entity_df = pq.read_table(data / "entity_rows.parquet").to_pandas()
    start = time.perf_counter()
    result = store.get_historical_features(entity_df, FEATURES).to_arrow()
    seconds = time.perf_counter() - start
    if out is not None:
        pq.write_table(result, out)
    return {"seconds": seconds, "rows": result.num_rows}


def materialize(data: Path, workload: Workload, url: str) -> dict[str, object]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    store, _ = feature_store(data, "duckdb", url)
    utc = dt.UTC
    start = time.perf_counter()
    store.materialize(START.replace(tzinfo=utc) - dt.timedelta(days=1), workload.now.replace(tzinfo=utc))
    seconds = time.perf_counter() - start
    # Feast writes the latest row of every entity per view: one row per user and view
    rows = sum(
        pc.count_distinct(pq.read_table(data / f"{name}_rows.parquet", columns=["user_id"])["user_id"]).as_py()
        for name in ("activity", "profile")
    )
    return {"seconds": seconds, "rows": rows}


def online(data: Path, workload: Workload, url: str, requests: int) -> dict[str, object]:
    store, service = feature_store(data, "duckdb", url)
    results: dict[str, dict[str, dict[str, float]]] = {"features": {}, "service": {}}
    warmup = min(200, requests // 5)
    for size in SIZES:
        batches = online_requests(workload, size, requests)
        results["features"][str(size)] = latency(
            lambda rows: store.get_online_features(FEATURES, rows).to_dict(), batches, warmup
        )
        results["service"][str(size)] = latency(
            lambda rows: store.get_online_features(service, rows).to_dict(), batches, warmup
        )
    return {"latency": results}


def push(data: Path, workload: Workload, url: str, requests: int) -> dict[str, object]:
    """Feast's store.push(..., to=ONLINE) of 1, 10 and 100 rows to a push source of the profile view: each until
    get_online_features sees it (p50/p99), and rows/s. The push view is applied in a registry of its own, so
    the other measurements' registry stays as it is."""
    from feast import FeatureView, Field, FileSource, PushSource
    from feast.data_source import PushMode
    from feast.types import Float64, String

    store, _ = feature_store(data, "duckdb", url, registry="registry-push.db")
    user = store.get_entity("user")
    batch = FileSource(path=str(data / "profile_rows.parquet"), timestamp_field="event_timestamp")
    pushed = FeatureView(
        name="profile_pushed",
        entities=[user],
        ttl=dt.timedelta(0),
        schema=[Field(name="plan", dtype=String), Field(name="credit_score", dtype=Float64)],
        source=PushSource(name="profile_updates", batch_source=batch),
    )
    store.apply([pushed])
    results: dict[str, object] = {}
    tick = itertools.count(1)

    def stamped(frame: pd.DataFrame) -> pd.DataFrame:
        # every push newer than the one before (after the workload's end), so every one is stored
        at = (workload.now + dt.timedelta(microseconds=next(tick))).replace(tzinfo=dt.UTC)
        return frame.assign(event_timestamp=at)

    for size in SIZES:
        batches = online_requests(workload, size, requests)
        frames = [
            pd.DataFrame({"user_id": [r["user_id"] for r in rows], "plan": [f"p{i}"] * len(rows),
                          "credit_score": [1.0] * len(rows)})
            for i, rows in enumerate(batches)
        ]  # fmt: skip

        def push_and_read(frame: pd.DataFrame) -> None:
            frame = stamped(frame)
            store.push("profile_updates", frame, to=PushMode.ONLINE)
            user_id = int(frame["user_id"].iloc[-1])
            seen = store.get_online_features(["profile_pushed:plan"], [{"user_id": user_id}]).to_dict()
            assert seen["plan"] == [frame["plan"].iloc[-1]], seen

        visible = latency(push_and_read, frames, min(200, requests // 5))
        start = time.perf_counter()
        for frame in frames:
            store.push("profile_updates", stamped(frame), to=PushMode.ONLINE)
        rows_per_s = sum(len(f) for f in frames) / (time.perf_counter() - start)
        results[str(size)] = {"visible": visible, "rows_per_s": rows_per_s}
    return {"push": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["historical", "materialize", "online", "push"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workload", required=True, help="users,days,entity_rows")
    parser.add_argument("--offline", choices=["duckdb", "file"], default="duckdb")
    parser.add_argument("--redis-url")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    users, days, entity_rows = (int(x) for x in args.workload.split(","))
    workload = Workload(users, days, entity_rows)
    if args.what == "historical":
        emit(historical(args.data, args.offline, args.out))
    elif args.what == "materialize":
        emit(materialize(args.data, workload, args.redis_url))
    elif args.what == "push":
        emit(push(args.data, workload, args.redis_url, args.requests))
    else:
        emit(online(args.data, workload, args.redis_url, args.requests))


if __name__ == "__main__":
    main()
