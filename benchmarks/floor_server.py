"""The floor of an HTTP feature server: what any server must do at least, and nothing more.

    python benchmarks/floor_server.py --port P --redis-url URL --data DIR

A bare ASGI callable on uvicorn (uvloop, httptools), as featurelayer serve
runs: read the JSON body with orjson, build the request's keys (the key
layout is worked out once at start-up from the benchmark project), one MGET
on a kept connection packed by hiredis, unpack each row with msgpack, answer
the values as JSON with orjson. ``POST /service`` also computes the service's
transform (``engagement``) in plain Python. No statuses, no event timestamps,
no validation, no errors: a lower bound, not a server.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

import hiredis  # noqa: E402
import msgpack  # noqa: E402
import orjson  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

_VIEWS = {"activity": ["daily_transactions", "avg_transaction_value_7d"], "profile": ["plan", "credit_score"]}


def key_templates() -> list[tuple[str, str, list[str]]]:
    """(key prefix, key suffix, feature names) per view, from the benchmark project's registry."""
    from featurelayer import FeatureStore
    from featurelayer._online.codec import view_schema_tag

    with FeatureStore(HERE / "project") as store:
        registry = store.registry
        out = []
        for name, features in _VIEWS.items():
            view = registry.feature_view(name)
            out.append((f"fl:{registry.project_name}:{{[", f"]}}:{name}:{view_schema_tag(view)}", features))
    return out


def make_app(redis_url: str) -> Any:
    templates = key_templates()
    client = aioredis.Redis.from_url(redis_url)
    idle: list[Any] = []

    async def mget(keys: list[str]) -> list[bytes | None]:
        connection = idle.pop() if idle else await client.connection_pool.get_connection()
        await connection.send_packed_command([hiredis.pack_command(("MGET", *keys))], check_health=False)
        values: list[bytes | None] = await connection.read_response()
        idle.append(connection)
        return values

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        ids = orjson.loads(body)["entities"]["user_id"]
        n = len(ids)
        keys = [f"{prefix}{i}{suffix}" for prefix, suffix, _ in templates for i in ids]
        raw = await mget(keys)
        names, columns = ["user_id"], [ids]
        for v, (_, _, features) in enumerate(templates):
            rows = [None if r is None else msgpack.unpackb(r) for r in raw[v * n : (v + 1) * n]]
            for j, feature in enumerate(features):
                names.append(feature)
                columns.append([None if row is None else row[4 + j] for row in rows])
        if scope["path"] == "/service":
            daily, average = columns[1], columns[2]
            names.append("engagement")
            columns.append(
                [None if d is None or a is None else d * 0.5 + a * 0.3 for d, a in zip(daily, average, strict=True)]
            )
        payload = orjson.dumps({"metadata": {"feature_names": names}, "results": [{"values": c} for c in columns]})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    os.environ["FEATURELAYER_BENCH_DIR"] = str(args.data)
    uvicorn.run(make_app(args.redis_url), host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
