"""The benchmark's workload: deterministic Parquet files that every contender reads.

- ``activity_rows``: one row per user on ~60% of days (a 30-day ttl view);
  2% of rows are re-sent with the same event timestamp and a later created
  timestamp, as a correcting backfill would;
- ``profile_rows``: 1 + Poisson(1) changes per user at random times (no ttl);
- ``entity_rows``: random users (2% unknown) at random times, some before any
  data and some after the last; ``row_id`` numbers them for the cross-check.

The same seed and preset always give the same files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = dt.datetime(2025, 1, 1)
_START64 = np.datetime64("2025-01-01T00:00:00", "us")
_DAY_US = 86_400_000_000


@dataclasses.dataclass(frozen=True)
class Workload:
    users: int
    days: int
    entity_rows: int
    seed: int = 11

    @property
    def now(self) -> dt.datetime:
        """The instant the online part syncs and serves at: noon after the last day of data."""
        return START + dt.timedelta(days=self.days, hours=12)


PRESETS = {
    "tiny": Workload(users=300, days=10, entity_rows=2_000),  # the smoke test's
    "small": Workload(users=20_000, days=60, entity_rows=100_000),  # ~0.75M feature rows
    "medium": Workload(users=200_000, days=80, entity_rows=1_000_000),  # ~10.2M feature rows
    "large": Workload(users=500_000, days=120, entity_rows=3_000_000),  # ~37M feature rows
    # the online half at scale: ~10M rows valid at the end (few days, many users);
    # run it with --only online (Feast's materialize of 10M rows outlasts the timeout: --no-peer)
    "sync10m": Workload(users=5_200_000, days=3, entity_rows=10_000),
}


def generate(out: Path, workload: Workload) -> dict[str, int]:
    """Writes the three Parquet files into ``out`` unless the same workload is already there."""
    stamp = out / "workload.json"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["workload"] == dataclasses.asdict(workload):
            return dict(saved["counts"])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(workload.seed)
    users, days = workload.users, workload.days

    active = rng.random((users, days)) < 0.6
    user_idx, day_idx = np.nonzero(active)
    n = len(user_idx)
    ts = _START64 + (day_idx.astype(np.int64) + 1) * _DAY_US
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
                "event_timestamp": pa.array(ts, pa.timestamp("us")),
                "created_timestamp": pa.array(created, pa.timestamp("us")),
                "daily_transactions": pa.array(rng.poisson(2.0, m).astype(np.int32)),
                "avg_transaction_value_7d": rng.lognormal(3.0, 0.7, m),
            }
        ),
        out / "activity_rows.parquet",
    )

    changes = 1 + rng.poisson(1.0, users)
    p_user = np.repeat(np.arange(1, users + 1, dtype=np.int64), changes)
    p_ts = _START64 + rng.integers(0, days * _DAY_US, len(p_user))
    pq.write_table(
        pa.table(
            {
                "user_id": p_user,
                "event_timestamp": pa.array(p_ts, pa.timestamp("us")),
                "plan": pa.array(rng.choice(np.array(["free", "plus", "pro"]), len(p_user))),
                "credit_score": rng.normal(650, 80, len(p_user)),
            }
        ),
        out / "profile_rows.parquet",
    )

    e_user = rng.integers(1, int(users * 1.02) + 1, workload.entity_rows).astype(np.int64)
    e_ts = _START64 + rng.integers(-5 * _DAY_US, (days + 10) * _DAY_US, workload.entity_rows)
    pq.write_table(
        pa.table(
            {
                "user_id": e_user,
                "event_timestamp": pa.array(e_ts, pa.timestamp("us")),
                "label": rng.integers(0, 2, workload.entity_rows).astype(np.int8),
                "row_id": np.arange(workload.entity_rows, dtype=np.int64),
            }
        ),
        out / "entity_rows.parquet",
    )
    counts = {"activity_rows": m, "profile_rows": len(p_user), "entity_rows": workload.entity_rows}
    stamp.write_text(json.dumps({"workload": dataclasses.asdict(workload), "counts": counts}))
    return counts


# What every contender asks for: four features over two views; online, the same random requests.
FEATURES = ["activity:daily_transactions", "activity:avg_transaction_value_7d", "profile:plan", "profile:credit_score"]
SIZES = (1, 10, 100)


def online_requests(workload: Workload, size: int, count: int) -> list[list[dict[str, int]]]:
    """``count`` requests of ``size`` random entity rows, the same for every online reader."""
    rng = random.Random(5 + size)
    return [[{"user_id": rng.randint(1, workload.users)} for _ in range(size)] for _ in range(count)]
