"""Training-retrieval benchmark: featurelayer beside hand-written DuckDB joins.

    .venv/bin/python benchmarks/retrieval.py                 # 10M+ feature rows, 1M entity rows
    .venv/bin/python benchmarks/retrieval.py --users 20000 --entity-rows 50000   # a quick run

Generates a workload as Parquet (an activity view that changes daily per user
with a 30-day ttl and some duplicate event timestamps with later created
timestamps; a profile view that changes rarely; entity rows at random times,
some before any data, some for unknown users), builds the feature tables once
with `dbt build`, then times each contender in its own process and prints wall
time and peak memory (max RSS of that process):

- featurelayer: FeatureStore.get_historical_features(...).to_arrow()
- range join (floor): the same range join on the validity tables, hand-written
- ASOF on intervals: DuckDB's ASOF join on the validity tables, then the valid_to test
- ASOF on raw rows (floor): a hand-written ASOF join on the raw Parquet rows
  (ties broken by created timestamp; ttl applied after)
- feast: Feast's get_historical_features, when `feast` is importable (it is
  not installed by this project; the harness of benchmarks/ runs it in its
  own virtual environment)

Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
START = np.datetime64("2025-01-01T00:00:00", "us")
DAY_US = 86_400_000_000


def generate(out: Path, users: int, days: int, entity_rows: int, seed: int = 11) -> dict[str, int]:
    """Writes activity_rows, profile_rows and entity_rows Parquet files into ``out``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)

    # activity: each user active on ~60% of days; 2% of rows re-sent with a later created timestamp
    active = rng.random((users, days)) < 0.6
    user_idx, day_idx = np.nonzero(active)
    n = len(user_idx)
    ts = START + (day_idx.astype(np.int64) + 1) * DAY_US
    created = ts + rng.integers(0, 3_600_000_000, n)
    dup = rng.random(n) < 0.02
    user_id = np.r_[user_idx, user_idx[dup]].astype(np.int64) + 1
    ts = np.r_[ts, ts[dup]]
    created = np.r_[created, created[dup] + 7_200_000_000]
    m = len(user_id)
    pq.write_table(
        pa.table(
            {
                "user_id": user_id,
                "event_timestamp": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")),
                "created_timestamp": pa.array(created.astype("datetime64[us]"), pa.timestamp("us")),
                "daily_transactions": pa.array(rng.poisson(2.0, m).astype(np.int32)),
                "avg_transaction_value_7d": rng.lognormal(3.0, 0.7, m),
            }
        ),
        out / "activity_rows.parquet",
    )

    # profile: 1 + Poisson(1) changes per user at random times
    changes = 1 + rng.poisson(1.0, users)
    p_user = np.repeat(np.arange(1, users + 1, dtype=np.int64), changes)
    p_ts = START + rng.integers(0, days * DAY_US, len(p_user))
    pq.write_table(
        pa.table(
            {
                "user_id": p_user,
                "event_timestamp": pa.array(p_ts.astype("datetime64[us]"), pa.timestamp("us")),
                "plan": pa.array(rng.choice(np.array(["free", "plus", "pro"]), len(p_user))),
                "credit_score": rng.normal(650, 80, len(p_user)),
            }
        ),
        out / "profile_rows.parquet",
    )

    # entity rows: random users (2% unknown) at random times (some before any data)
    e_user = rng.integers(1, int(users * 1.02) + 1, entity_rows).astype(np.int64)
    e_ts = START + rng.integers(-5 * DAY_US, (days + 10) * DAY_US, entity_rows)
    pq.write_table(
        pa.table(
            {
                "user_id": e_user,
                "event_timestamp": pa.array(e_ts.astype("datetime64[us]"), pa.timestamp("us")),
                "label": rng.integers(0, 2, entity_rows).astype(np.int8),
            }
        ),
        out / "entity_rows.parquet",
    )
    return {"activity_rows": m, "profile_rows": len(p_user), "entity_rows": entity_rows}


FEATURES = [
    "activity:daily_transactions",
    "activity:avg_transaction_value_7d",
    "profile:plan",
    "profile:credit_score",
]

RANGE_JOIN = """
select e.user_id, e.event_timestamp, e.label,
       a.daily_transactions, a.avg_transaction_value_7d, p.plan, p.credit_score
from read_parquet('{entity}') e
left join activity a on a.user_id = e.user_id and a.valid_from <= e.event_timestamp and e.event_timestamp < a.valid_to
left join profile p on p.user_id = e.user_id and p.valid_from <= e.event_timestamp and e.event_timestamp < p.valid_to
"""

ASOF_INTERVALS = """
with e as (select *, row_number() over () as rid from read_parquet('{entity}')),
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
select e.user_id, e.event_timestamp, e.label, a.daily_transactions, a.avg_transaction_value_7d, p.plan, p.credit_score
from e join a using (rid) join p using (rid) order by e.rid
"""

ASOF_RAW = """
with e as (select *, row_number() over () as rid from read_parquet('{entity}')),
act as (
  select * from read_parquet('{data}/activity_rows.parquet')
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
  from e asof left join read_parquet('{data}/profile_rows.parquet') pr
    on pr.user_id = e.user_id and e.event_timestamp >= pr.event_timestamp
)
select e.user_id, e.event_timestamp, e.label, a.daily_transactions, a.avg_transaction_value_7d, p.plan, p.credit_score
from e join a using (rid) join p using (rid) order by e.rid
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM).

    Not getrusage's ru_maxrss: Linux carries it across exec, so a child
    started from the generating parent would report the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(what: str, data: Path) -> dict[str, float]:
    """Runs one contender in this process; returns seconds, rows and peak RSS in MB."""
    entity = data / "entity_rows.parquet"
    start = time.perf_counter()
    if what == "featurelayer":
        sys.path.insert(0, str(HERE.parent / "python"))
        from featurelayer import FeatureStore

        os.environ["FEATURELAYER_BENCH_DIR"] = str(data)
        entity_df = pq.read_table(entity)
        start = time.perf_counter()
        with FeatureStore(PROJECT) as store:
            rows = store.get_historical_features(entity_df, FEATURES).to_arrow().num_rows
    else:
        import duckdb

        sql = {"range_join": RANGE_JOIN, "asof_intervals": ASOF_INTERVALS, "asof_raw": ASOF_RAW}[what]
        with duckdb.connect(str(data / "bench.duckdb"), read_only=True) as connection:
            connection.execute("set TimeZone = 'UTC'")
            rows = connection.sql(sql.format(entity=entity, data=data)).to_arrow_table().num_rows
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    return {"seconds": seconds, "rows": rows, "peak_mb": peak_mb}


def build(data: Path) -> float:
    env = {**os.environ, "FEATURELAYER_BENCH_DIR": str(data)}
    code = (
        "import sys; sys.path.insert(0, {!r})\n"
        "from featurelayer import find_project\n"
        "from featurelayer._dbt import run_dbt\n"
        "run_dbt(find_project({!r}), ['build'])\n"
    ).format(str(HERE.parent / "python"), str(PROJECT))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=80)
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=HERE / ".work" / "retrieval")
    parser.add_argument("--repeat", type=int, default=2, help="runs per contender; the best is reported")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.data)))
        return

    counts = generate(args.data, args.users, args.days, args.entity_rows)
    feature_rows = counts["activity_rows"] + counts["profile_rows"]
    print(
        f"workload: {feature_rows:,} feature rows ({counts['activity_rows']:,} activity, "
        f"{counts['profile_rows']:,} profile), {counts['entity_rows']:,} entity rows"
    )
    seconds = build(args.data)
    print(f"dbt build of the feature tables (one-off): {seconds:.1f} s")

    contenders = ["featurelayer", "range_join", "asof_intervals", "asof_raw"]
    try:
        import feast  # noqa: F401
    except ImportError:
        print("feast: not installed here, skipped (see benchmarks/ harness)")
    results = {}
    for what in contenders:
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", what, "--data", str(args.data)],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[what] = min(runs, key=lambda r: r["seconds"])
    floor = results["range_join"]["seconds"]
    print(f"\n{'contender':<18}{'seconds':>10}{'peak MB':>10}{'rows':>12}{'vs range join':>15}")
    for what, r in results.items():
        print(f"{what:<18}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}{r['rows']:>12,}{r['seconds'] / floor:>14.2f}x")


if __name__ == "__main__":
    main()
