"""The embedded store's write path alone: rows per second into SQLite, no warehouse, no Redis.

    .venv/bin/python benchmarks/sqlite_write.py [--rows 100000] [--batch 5000]

Writes the rows in batches (a sync's pipelined writes) into an empty store,
then writes them again into the filled one, where every key is compared by
the write rule; prints the best of three runs of each. Not a test: nothing
here asserts on time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from featurelayer._online.base import WriteBatch
from featurelayer._online.codec import encode_values
from featurelayer._online.sqlite_store import SqliteOnlineStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    payload = encode_values([1.5, "free", True])  # three features, as the example's profile view
    batches = [
        WriteBatch(
            "v",
            [f"fl:p:{{[{i}]}}:v:s" for i in range(start, start + args.batch)],
            list(range(start, start + args.batch)),
            [-1] * args.batch,
            [payload] * args.batch,
            3,
        )
        for start in range(0, args.rows, args.batch)
    ]
    for label, filled in (("into an empty store", False), ("again, every key compared", True)):
        best = float("inf")
        for _ in range(3):
            with tempfile.TemporaryDirectory() as folder:
                store = SqliteOnlineStore(Path(folder) / "online.sqlite")
                if filled:
                    for batch in batches:
                        store.write(batch, 1, 10)
                started = time.perf_counter()
                for batch in batches:
                    store.write(batch, 1, 20)
                best = min(best, time.perf_counter() - started)
                store.close()
        print(f"{label}: {args.rows / best:,.0f} rows/s (best of 3, {args.rows:,} rows in batches of {args.batch:,})")


if __name__ == "__main__":
    main()
