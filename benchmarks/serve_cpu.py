"""CPU per request of featurelayer serve's app and of the floor app, in one process, without HTTP.

    .venv/bin/python benchmarks/serve_cpu.py [--preset tiny] [--rows 1] [--requests 6000]

Each app is driven through the ASGI interface on uvloop, 32 requests at a time
(so Redis round trips overlap, as under load), and the process's CPU time is
divided by the requests. It isolates what the apps themselves cost from
uvicorn's HTTP work, which benchmarks/serve.py includes. It syncs the preset's
data into a private redis-server first (the preset's data must exist: run
`benchmarks/run.py --preset tiny --only online --no-peer` once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python"))

from run import start_redis  # noqa: E402
from workload import FEATURES, PRESETS  # noqa: E402

CONCURRENT = 32


async def drive(app: Any, path: str, bodies: list[bytes], requests: int) -> float:
    """µs of CPU per request, after one unmeasured pass over the bodies."""
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_nothing(message: dict[str, Any]) -> None:
        return None

    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, startup.get, send_nothing))
    await asyncio.sleep(0.2)
    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-type", b"application/json")]}

    async def one(body: bytes) -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop()

        await app(scope, receive, send_nothing)

    for body in bodies:
        await one(body)
    start = time.process_time()
    for k in range(requests // CONCURRENT):
        await asyncio.gather(*(one(bodies[(k * CONCURRENT + j) % len(bodies)]) for j in range(CONCURRENT)))
    cpu = time.process_time() - start
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan
    return cpu / (requests // CONCURRENT * CONCURRENT) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--requests", type=int, default=6_000)
    args = parser.parse_args()
    workload = PRESETS[args.preset]
    data = HERE / ".work" / args.preset / "data"
    os.environ["FEATURELAYER_BENCH_DIR"] = str(data)

    import uvloop

    import floor_server
    from featurelayer import FeatureStore
    from featurelayer._serve.app import create_app
    from featurelayer._serve.config import ServeConfig

    server, _, url = start_redis()
    try:
        with FeatureStore(HERE / "project", online_url=f"{url}/0", clock=lambda: workload.now) as store:
            store.sync(full=True)
        rng = random.Random(1)
        bodies = [
            json.dumps({"features": FEATURES, "entities": {"user_id": [rng.randint(1, workload.users)
                                                                       for _ in range(args.rows)]}}).encode()
            for _ in range(200)
        ]  # fmt: skip
        config = ServeConfig(
            project_dir=str(HERE / "project"), online_url=f"{url}/0", as_of=workload.now.isoformat(), watch_seconds=0
        )
        contenders = [
            ("featurelayer serve's app", create_app(config), "/get-online-features"),
            ("the floor's app", floor_server.make_app(f"{url}/0"), "/features"),
        ]
        for name, app, path in contenders:
            cpu = uvloop.run(drive(app, path, bodies, args.requests))
            print(f"{name}: {cpu:.1f} µs of CPU a request ({args.rows} row(s), preset {args.preset})", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
