"""The floor: what the hardware and the engines do with no feature store in between.

    python benchmarks/floor.py range_join|asof_intervals|asof_raw|redis_reads --data DIR ...

Each call is one measurement process, run by benchmarks/run.py; it prints one result line.
The joins read the validity tables that featurelayer's `dbt build` wrote (or,
for asof_raw, the raw Parquet rows) and the same entity rows.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))

from _measure import emit, latency  # noqa: E402
from ours import PROJECT  # noqa: E402
from workload import SIZES, Workload, online_requests  # noqa: E402

# the plain range join on the validity intervals: what featurelayer's query amounts to
RANGE_JOIN = """
select e.user_id, e.event_timestamp, e.label, e.row_id,
       a.daily_transactions, a.avg_transaction_value_7d, p.plan, p.credit_score
from entity_rows e
left join activity a on a.user_id = e.user_id and a.valid_from <= e.event_timestamp and e.event_timestamp < a.valid_to
left join profile p on p.user_id = e.user_id and p.valid_from <= e.event_timestamp and e.event_timestamp < p.valid_to
"""

# DuckDB's ASOF join on the same validity tables, then the valid_to test
ASOF_INTERVALS = """
with e as (select *, row_number() over () as rid from entity_rows),
a as (
  select e.rid, case when e.event_timestamp < a.valid_to then a.daily_transactions end as daily_transactions,
         case when e.event_timestamp < a.valid_to then a.avg_transaction_value_7d end as avg_transaction_value_7d
  from e asof left join (select * from activity where valid_from < valid_to) a
    on a.user_id = e.user_id and e.event_timestamp >= a.valid_from
),
p as (
  select e.rid, case when e.event_timestamp < p.valid_to then p.plan end as plan,
         case when e.event_timestamp < p.valid_to then p.credit_score end as credit_score
  from e asof left join profile p on p.user_id = e.user_id and e.event_timestamp >= p.valid_from
)
select e.user_id, e.event_timestamp, e.label, e.row_id, a.daily_transactions, a.avg_transaction_value_7d, p.plan, p.credit_score
from e join a using (rid) join p using (rid) order by e.rid
"""

# a hand-written ASOF join on the raw Parquet rows: dedup by created timestamp and ttl in the query,
# no precomputed intervals (what a user of DuckDB alone would write)
ASOF_RAW = """
with e as (select *, row_number() over () as rid from entity_rows),
act as (
  select * from activity_rows
  qualify row_number() over (partition by user_id, event_timestamp order by created_timestamp desc) = 1
),
a as (
  select e.rid,
         case when act.event_timestamp >= e.event_timestamp - interval 30 day then act.daily_transactions end as daily_transactions,
         case when act.event_timestamp >= e.event_timestamp - interval 30 day then act.avg_transaction_value_7d end as avg_transaction_value_7d
  from e asof left join act on act.user_id = e.user_id and e.event_timestamp >= act.event_timestamp
),
p as (
  select e.rid, pr.plan, pr.credit_score
  from e asof left join profile_rows pr
    on pr.user_id = e.user_id and e.event_timestamp >= pr.event_timestamp
)
select e.user_id, e.event_timestamp, e.label, e.row_id, a.daily_transactions, a.avg_transaction_value_7d, p.plan, p.credit_score
from e join a using (rid) join p using (rid) order by e.rid
"""

JOINS = {"range_join": RANGE_JOIN, "asof_intervals": ASOF_INTERVALS, "asof_raw": ASOF_RAW}


def join(what: str, data: Path) -> dict[str, object]:
    import duckdb

    start = time.perf_counter()
    with duckdb.connect(str(data / "bench.duckdb"), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        # the queries name these relations; DuckDB finds them in this scope (a replacement scan)
        entity_rows = connection.read_parquet(str(data / "entity_rows.parquet"))  # noqa: F841
        activity_rows = connection.read_parquet(str(data / "activity_rows.parquet"))  # noqa: F841
        profile_rows = connection.read_parquet(str(data / "profile_rows.parquet"))  # noqa: F841
        rows = connection.sql(JOINS[what]).to_arrow_table().num_rows
    return {"seconds": time.perf_counter() - start, "rows": rows}


def redis_reads(workload: Workload, url: str, requests: int) -> dict[str, object]:
    """The same keys featurelayer reads for each request, in one raw MGET; and redis-benchmark's MGET."""
    import redis

    from featurelayer import FeatureStore
    from featurelayer._online.codec import entity_key, view_schema_tag

    client = redis.Redis.from_url(url)
    with FeatureStore(PROJECT) as store:
        views = [store.registry.feature_view(name) for name in ("activity", "profile")]
        project = store.registry.project_name
    mget: dict[str, dict[str, float]] = {}
    bench: dict[str, dict[str, float]] = {}
    for size in SIZES:
        keys = [
            [entity_key(project, view.name, [row["user_id"]], view_schema_tag(view)) for view in views for row in rows]
            for rows in online_requests(workload, size, requests)
        ]
        mget[str(size)] = latency(client.mget, keys, min(200, requests // 5))
        bench[str(size)] = redis_benchmark(url, keys[0])
    return {"latency": {"redis-py MGET": mget, "redis-benchmark MGET": bench}}


def redis_benchmark(url: str, keys: list[str]) -> dict[str, float]:
    """p50/p95/p99 (ms) of redis-benchmark sending one MGET: one client, no pipelining."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {}
    port = url.rsplit(":", 1)[1].split("/")[0]
    out = subprocess.run(
        [binary, "-p", port, "-c", "1", "-n", "5000", "MGET", *keys], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*[\d.]+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    if not match:
        return {}
    return {"p50": float(match.group(1)), "p95": float(match.group(2)), "p99": float(match.group(3))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=[*JOINS, "redis_reads"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workload", required=True, help="users,days,entity_rows")
    parser.add_argument("--redis-url")
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    os.environ["FEATURELAYER_BENCH_DIR"] = str(args.data)
    users, days, entity_rows = (int(x) for x in args.workload.split(","))
    if args.what == "redis_reads":
        emit(redis_reads(Workload(users, days, entity_rows), args.redis_url, args.requests))
    else:
        emit(join(args.what, args.data))


if __name__ == "__main__":
    main()
