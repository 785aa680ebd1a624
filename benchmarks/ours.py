"""featurelayer's measurements; each call of this script is one measurement process.

    python benchmarks/ours.py build|historical|sync|online --data DIR [--redis-url URL]

Run by benchmarks/run.py with the project's interpreter; prints one result line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))

from _measure import emit, latency  # noqa: E402
from workload import FEATURES, SIZES, Workload, online_requests  # noqa: E402

PROJECT = HERE / "project"
SERVICE = "bench_service"  # the same four features plus a SQL transform (benchmarks/project)


def build() -> dict[str, object]:
    from featurelayer import find_project
    from featurelayer._dbt.runner import run_dbt

    start = time.perf_counter()
    run_dbt(find_project(PROJECT), ["build"])
    return {"seconds": time.perf_counter() - start}


def historical(data: Path, out: Path | None) -> dict[str, object]:
    import pyarrow.parquet as pq

    from featurelayer import FeatureStore

    entity_df = pq.read_table(data / "entity_rows.parquet")
    with FeatureStore(PROJECT) as store:
        store.registry, store.offline_store  # noqa: B018  opened before the clock starts, as Feast's store is
        start = time.perf_counter()
        result = store.get_historical_features(entity_df, FEATURES).to_arrow()
        seconds = time.perf_counter() - start
    if out is not None:
        pq.write_table(result, out)
    return {"seconds": seconds, "rows": result.num_rows}


def sync(workload: Workload, url: str) -> dict[str, object]:
    from featurelayer import FeatureStore

    # DuckDB's buffer cache capped (profile target duckdb_capped): uncapped it
    # grows with the tables read and hides whether the sync's own memory is flat
    with FeatureStore(PROJECT, target="duckdb_capped", online_url=url, clock=lambda: workload.now) as store:
        start = time.perf_counter()
        report = store.sync(full=True, batch_rows=10_000)
        seconds = time.perf_counter() - start
    removal = {  # the removal pass (a sync into a store that holds the views' rows): its share and speed
        "removal_seconds": sum(v.removal_seconds for v in report.views),
        "removal_keys": sum(v.removal_keys for v in report.views),
    }
    return {"seconds": seconds, "rows": report.rows, **removal}


def online(workload: Workload, url: str, requests: int) -> dict[str, object]:
    from featurelayer import FeatureStore

    results: dict[str, dict[str, dict[str, float]]] = {"features": {}, "service": {}, "transform": {}}
    warmup = min(200, requests // 5)
    with FeatureStore(PROJECT, online_url=url, clock=lambda: workload.now) as store:
        for size in SIZES:
            batches = online_requests(workload, size, requests)
            results["features"][str(size)] = latency(
                lambda rows: store.get_online_features(FEATURES, rows).to_dict(), batches, warmup
            )
            results["service"][str(size)] = latency(
                lambda rows: store.get_online_features(SERVICE, rows).to_dict(), batches, warmup
            )
            results["transform"][str(size)] = transform_cost(store, batches, warmup)
    return {"latency": results}


def transform_cost(store: object, batches: list[list[dict[str, int]]], warmup: int) -> dict[str, float]:
    """What the service's transform alone adds to a request (ms): computing it on an online response already read."""
    from featurelayer._online.online_transforms import apply_online_transforms
    from featurelayer._online.read import read_online

    request = store._resolve_cached(SERVICE, False)  # type: ignore[attr-defined]
    responses = [
        read_online(store.registry.project_name, store.online_store, request.refs, rows, now=store.clock())  # type: ignore[attr-defined]
        for rows in batches
    ]
    return latency(lambda response: apply_online_transforms(request, response), responses, warmup)


def push(workload: Workload, url: str, requests: int) -> dict[str, object]:
    """Pushes of 1, 10 and 100 rows to the profile view: each until a read sees it (p50/p99), and rows/s."""
    import datetime as dt
    import itertools

    from featurelayer import FeatureStore

    results: dict[str, object] = {}
    tick = itertools.count(1)

    def stamped(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        # every push newer than the one before (after the workload's end), so every one is stored
        at = workload.now + dt.timedelta(microseconds=next(tick))
        for row in rows:
            row["event_timestamp"] = at
        return rows

    with FeatureStore(PROJECT, online_url=url, clock=lambda: workload.now) as store:
        store.online_store.ping()
        for size in SIZES:
            batches = online_requests(workload, size, requests)
            pushes = [
                [{"user_id": r["user_id"], "plan": f"p{i}", "credit_score": 1.0} for r in rows]
                for i, rows in enumerate(batches)
            ]

            def push_and_read(rows: list[dict[str, object]]) -> None:
                store.push("profile_updates", stamped(rows))
                seen = store.get_online_features(["profile:plan"], [{"user_id": rows[-1]["user_id"]}]).to_dict()
                assert seen["plan"] == [rows[-1]["plan"]], (seen, rows[-1])

            visible = latency(push_and_read, pushes, min(200, requests // 5))
            start = time.perf_counter()
            for rows in pushes:
                store.push("profile_updates", stamped(rows))
            rows_per_s = sum(len(r) for r in pushes) / (time.perf_counter() - start)
            results[str(size)] = {"visible": visible, "rows_per_s": rows_per_s}
    return {"push": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["build", "historical", "sync", "online", "push"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workload", required=True, help="users,days,entity_rows")
    parser.add_argument("--redis-url")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--out", type=Path, help="historical: write the result here as Parquet")
    args = parser.parse_args()
    os.environ["FEATURELAYER_BENCH_DIR"] = str(args.data)
    users, days, entity_rows = (int(x) for x in args.workload.split(","))
    workload = Workload(users, days, entity_rows)
    if args.what == "build":
        emit(build())
    elif args.what == "historical":
        emit(historical(args.data, args.out))
    elif args.what == "sync":
        emit(sync(workload, args.redis_url))
    elif args.what == "push":
        emit(push(workload, args.redis_url, args.requests))
    else:
        emit(online(workload, args.redis_url, args.requests))


if __name__ == "__main__":
    main()
