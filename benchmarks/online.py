"""Online benchmark: sync throughput into Redis and get_online_features latency.

    .venv/bin/python benchmarks/online.py                      # 5M users: 10M+ rows to sync
    .venv/bin/python benchmarks/online.py --users 100000       # a quick run

Uses the workload of benchmarks/retrieval.py (an activity view with a 30-day
ttl and a profile view), built once with dbt, and a private redis-server on a
free loopback port (or --redis-url). Prints:

- sync: rows, seconds, rows/s and the sync process's peak memory, and Redis
  memory per stored row and per feature value;
- latency p50/p95/p99 of get_online_features(...).to_dict() over two views
  (4 features) for 1, 10 and 100 entity rows, after warm-up; then the same
  features as a feature service with a SQL transform on top;
- the floor on the same server: raw redis-py MGET of the same keys, and
  redis-benchmark running the same MGET.

Feast (peer) is not installed by this project; the benchmark harness runs it in
its own environment. Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))

from retrieval import peak_rss_mb  # noqa: E402

FEATURES = ["activity:daily_transactions", "activity:avg_transaction_value_7d", "profile:plan", "profile:credit_score"]


def _now(days: int) -> dt.datetime:
    return dt.datetime(2025, 1, 1) + dt.timedelta(days=days, hours=12)


def measure_sync(data: Path, url: str, days: int, target: str) -> dict[str, float]:
    """Runs in its own process: a full sync; returns rows, seconds and peak RSS."""
    from featurelayer import FeatureStore

    os.environ["FEATURELAYER_BENCH_DIR"] = str(data)
    now = _now(days)
    with FeatureStore(HERE / "project", target=target, online_url=url, clock=lambda: now) as store:
        start = time.perf_counter()
        report = store.sync(full=True, batch_rows=10_000)
        seconds = time.perf_counter() - start
    return {"rows": report.rows, "seconds": seconds, "peak_mb": peak_rss_mb()}


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return pick(0.50), pick(0.95), pick(0.99)


def measure_latency(data: Path, url: str, days: int, users: int, requests: int) -> list[tuple[str, int, tuple[float, float, float]]]:
    import redis

    from featurelayer import FeatureStore

    os.environ["FEATURELAYER_BENCH_DIR"] = str(data)
    now = _now(days)
    rng = random.Random(5)
    results = []
    client = redis.Redis.from_url(url)
    with FeatureStore(HERE / "project", online_url=url, clock=lambda: now) as store:
        for size in (1, 10, 100):
            batches = [[{"user_id": rng.randint(1, users)} for _ in range(size)] for _ in range(requests)]
            for rows in batches[:200]:  # warm-up
                store.get_online_features(FEATURES, rows).to_dict()
            samples = []
            for rows in batches:
                start = time.perf_counter()
                store.get_online_features(FEATURES, rows).to_dict()
                samples.append((time.perf_counter() - start) * 1000)
            results.append(("featurelayer get_online_features", size, percentiles(samples)))

            # the same four features as a feature service with a SQL transform on top
            for rows in batches[:200]:
                store.get_online_features("bench_service", rows).to_dict()
            samples = []
            for rows in batches:
                start = time.perf_counter()
                store.get_online_features("bench_service", rows).to_dict()
                samples.append((time.perf_counter() - start) * 1000)
            results.append(("  as a service + SQL transform", size, percentiles(samples)))

            # the floor: the same keys, one raw MGET
            from featurelayer._online_codec import entity_key

            views = [store.registry.feature_view(n) for n in ("activity", "profile")]
            key_batches = [[entity_key(store.registry.project_name, v.name, [r["user_id"]], v.schema_tag)
                            for v in views for r in rows] for rows in batches]
            for keys in key_batches[:200]:
                client.mget(keys)
            samples = []
            for keys in key_batches:
                start = time.perf_counter()
                client.mget(keys)
                samples.append((time.perf_counter() - start) * 1000)
            results.append(("raw redis-py MGET (floor)", size, percentiles(samples)))
            results.append(("redis-benchmark MGET (floor)", size, redis_benchmark(url, key_batches[0])))
    return results


def redis_benchmark(url: str, keys: list[str]) -> tuple[float, float, float]:
    """p50/p95/p99 (ms) of redis-benchmark sending the same MGET, one client, no pipelining."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return (float("nan"),) * 3  # type: ignore[return-value]
    port = url.rsplit(":", 1)[1].split("/")[0]
    out = subprocess.run([binary, "-p", port, "-c", "1", "-n", "5000", "MGET", *keys],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    if not match:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return float(match.group(3)), float(match.group(4)), float(match.group(5))


def redis_memory(url: str) -> tuple[int, int]:
    import redis

    client = redis.Redis.from_url(url)
    return int(client.info("memory")["used_memory"]), int(client.dbsize())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--redis-url", default=None, help="default: a private redis-server on a free port")
    parser.add_argument("--data", type=Path, default=HERE / ".work" / "online")
    parser.add_argument("--measure-sync", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_sync:
        print(json.dumps(measure_sync(args.data, args.redis_url, args.days, args.measure_sync)))
        return

    from retrieval import build, generate

    counts = generate(args.data, args.users, args.days, entity_rows=1_000)
    print(f"workload: {args.users:,} users, {counts['activity_rows']:,} activity rows, "
          f"{counts['profile_rows']:,} profile rows")
    print(f"dbt build (one-off): {build(args.data):.1f} s")

    server = None
    url = args.redis_url
    if url is None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        folder = tempfile.mkdtemp(prefix="fl-bench-redis-")
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
    try:
        before, _ = redis_memory(url)
        print()
        for target in ("duckdb_capped", "duckdb"):  # the first run writes, the second rewrites the same rows
            out = subprocess.run([sys.executable, __file__, "--measure-sync", target, "--data", str(args.data),
                                  "--redis-url", url, "--days", str(args.days)], check=True, capture_output=True, text=True)
            sync = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"sync ({target}): {sync['rows']:,} rows in {sync['seconds']:.1f} s = "
                  f"{sync['rows'] / sync['seconds']:,.0f} rows/s, peak memory {sync['peak_mb']:.0f} MB")
            if target == "duckdb_capped":
                after, keys = redis_memory(url)
        per_key = (after - before) / max(keys, 1)
        print(f"redis: {keys:,} keys, {(after - before) / 2**20:,.0f} MB: {per_key:.0f} bytes per stored row "
              f"({per_key / 2:.0f} per feature value; 2 features per view)")
        print(f"\n{'reader':<36}{'rows':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
        for name, size, (p50, p95, p99) in measure_latency(args.data, url, args.days, args.users, args.requests):
            print(f"{name:<36}{size:>6}{p50:>10.3f}{p95:>10.3f}{p99:>10.3f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
