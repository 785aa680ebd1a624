"""Where the time of one online read goes: each step timed alone (timeit, best of five).

    .venv/bin/python benchmarks/run.py --preset small --only online --no-peer   # once: the data and feature tables
    .venv/bin/python benchmarks/read_phases.py [--work benchmarks/.work/small] [--rows 100]

Starts its own Redis, syncs the preset's rows into it, then times the steps of
``get_online_features`` for the benchmark's service (two views and a SQL
transform) on one request of ``--rows`` entity rows. Best-of-five figures leave
out the machine's noise that p99 in run.py includes: use them to compare code,
not as latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))

from ours import PROJECT, SERVICE  # noqa: E402
from run import start_redis  # noqa: E402
from workload import PRESETS, online_requests  # noqa: E402


def best_us(call: Callable[[], object], number: int = 400) -> float:
    """The fastest of five rounds of ``number`` calls, per call, in µs."""
    for _ in range(50):
        call()
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "small")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--rows", type=int, default=100, help="entity rows in the request")
    args = parser.parse_args()
    if not (args.work / "data").exists():
        raise SystemExit(
            f"No data in {args.work}: run `benchmarks/run.py --preset {args.preset} --only online --no-peer` first."
        )
    os.environ["FEATURELAYER_BENCH_DIR"] = str(args.work / "data")

    from featurelayer import FeatureStore
    from featurelayer._online.codec import decode_rows, entity_keys, view_schema_tag
    from featurelayer._online.online_transforms import apply_online_transforms
    from featurelayer._online.read import read_online
    from featurelayer._online.request_keys import entity_columns
    from featurelayer._time import micros

    workload = PRESETS[args.preset]
    server, _, url = start_redis()
    try:
        with FeatureStore(PROJECT, online_url=f"{url}/0", clock=lambda: workload.now) as store:
            store.sync(full=True)
            request = store._resolve_cached(SERVICE, False)
            project, online = store.registry.project_name, store.online_store
            rows = online_requests(workload, args.rows, 1)[0]
            views = list({ref.view.name: ref.view for ref in request.refs}.values())
            ids = [row["user_id"] for row in rows]

            def keys() -> list[str]:
                return [k for v in views for k in entity_keys(project, v.stored_name, [ids], view_schema_tag(v))]

            all_keys = keys()
            raw = online.read(all_keys)
            now_us = micros(workload.now)
            response = read_online(project, online, request.refs, rows, now=workload.now)
            served = apply_online_transforms(request, response)
            steps: dict[str, Callable[[], object]] = {
                "entity rows to columns": lambda: entity_columns(rows),
                "keys (both views)": keys,
                "store.read: one MGET": lambda: online.read(all_keys),
                "decode_rows, one view": lambda: decode_rows(
                    raw[: len(rows)], now_us, len(views[0].features), online.retention_us
                ),
                "read_online, whole": lambda: read_online(project, online, request.refs, rows, now=workload.now),
                "the SQL transform": lambda: apply_online_transforms(request, response),
                "to_dict": served.to_dict,
                "get_online_features(...).to_dict(), whole": lambda: store.get_online_features(SERVICE, rows).to_dict(),
            }
            print(f"{args.preset} preset, {args.rows} entity rows, service '{SERVICE}' (best of five, µs per call):")
            for name, call in steps.items():
                print(f"  {name:45s} {best_us(call):8.1f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
