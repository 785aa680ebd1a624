"""The feature server's ASGI app: routes, errors, authentication, lifespan.

Each endpoint is one line of ``ROUTES``. ``FeatureServer`` checks the bearer
token, times the request for the metrics and turns every error into a JSON
answer: 400 for a request that cannot be served as sent (the message names
the problem), 401 without the token, 404/405 for another path or method, 413
for a body or a batch over the limits, 503 when the online store fails (one
line, no secret), 500 for anything else, logged. Nothing a client sends
escapes as an exception, so no request can take a worker down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import signal
import time
from collections.abc import Awaitable
from typing import Any

import orjson

from .._errors import DefinitionError, FeatureLayerError, OnlineStoreError, ValidationError
from .asgi import Answer, BodyTooLarge, Receive, Request, Route, Scope, Send, respond
from .config import ServeConfig
from .feast_json import RequestTooLarge, parse_features_request, parse_push_request, render_response
from .metrics import CONTENT_TYPE, Metrics
from .serving import Serving

__all__ = ["ROUTES", "FeatureServer", "app_from_env", "create_app"]

log = logging.getLogger("featurelayer.serve")


def _json(status: int, body: Any) -> Answer:
    return Answer(status, orjson.dumps(body))


def _error(status: int, exc: BaseException | str) -> Answer:
    kind = "Error" if isinstance(exc, str) else type(exc).__name__
    return _json(status, {"class": kind, "message": str(exc), "status": status})


# --- routes ----------------------------------------------------------------------------------


async def get_online_features(request: Request, server: FeatureServer) -> Answer:
    body = await request.body(server.config.max_body_bytes)
    parsed = parse_features_request(body, server.config.max_entities)
    read = await server.live.read(parsed)
    for view, newest in read.newest_events().items():
        server.metrics.served(view, newest)
    return Answer(200, render_response(read.response, read.join_keys, read.view_of))


async def push(request: Request, server: FeatureServer) -> Answer:
    """Feast's ``POST /push``: rows of a push source, written online at once (docs/serving.md)."""
    body = await request.body(server.config.max_body_bytes)
    written = await server.live.push(parse_push_request(body, server.config.max_entities))
    return _json(200, {"stored": written.stored, "new_keys": written.created})


async def health(request: Request, server: FeatureServer) -> Answer:
    serving = server.live
    try:
        await serving.reader.ping()  # (bounded by --store-timeout for Redis; SQLite is a local file)
    except OnlineStoreError as exc:
        return _json(503, {"status": "unavailable", "reason": str(exc)})
    body = {
        "status": "ok",
        "online_store": serving.reader.description,
        "never_synced": await serving.unsynced_views(),
        "feature_views": len(serving.registry.feature_views),
        "registry_loaded_at": serving.loaded_at,
        "reload_error": serving.reload_error,
        "held_views": sorted(serving.held),
    }
    return _json(200, body)


async def metrics(request: Request, server: FeatureServer) -> Answer:
    """The metrics; the views' sync ages are left out while the online store cannot be read, not the rest."""
    serving = server.live
    states: dict[str, dict[str, str]] = {}
    try:
        for name, view in serving.registry.feature_views.items():
            states[name] = await serving.reader.get_meta(serving.project_name, view.stored_name)
    except OnlineStoreError as exc:
        log.warning("metrics without the views' sync ages: %s", exc)
        states = {}
    return Answer(200, server.metrics.exposition(states), CONTENT_TYPE.encode())


#: The endpoints: a new one is one more line.
ROUTES = [
    Route("/get-online-features", "POST", get_online_features, "get-online-features"),
    Route("/push", "POST", push, "push"),
    Route("/health", "GET", health, "health", auth=False),  # (probes carry no token)
    Route("/metrics", "GET", metrics, "metrics"),
]


# --- the app ---------------------------------------------------------------------------------


class FeatureServer:
    """The ASGI app of one worker; it loads the project when it starts (the ASGI lifespan)."""

    def __init__(self, config: ServeConfig, *, tune_gc: bool = False) -> None:
        self.config = config
        self.tune_gc = tune_gc
        self.token = config.token()
        self.metrics = Metrics()
        self.serving: Serving | None = None
        self.routes = {route.path: route for route in ROUTES}
        self._watcher: asyncio.Task[None] | None = None
        # SIGHUP reloads under way (kept: a task nobody holds may vanish)
        self._reloads: set[asyncio.Task[None]] = set()

    @property
    def live(self) -> Serving:
        assert self.serving is not None, "the app's lifespan has not started"
        return self.serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        route = self.routes.get(scope["path"])
        if route is None:
            await respond(send, _error(404, f"No endpoint {scope['path'][:100]!r}; see docs/serving.md."))
            return
        request = Request(scope, receive)
        try:
            if request.method != route.method:
                answer = _error(405, f"{route.path} takes {route.method}, not {request.method}.")
            elif route.auth and self.token is not None and not _authorized(request, self.token):
                answer = _error(401, "Missing or wrong bearer token: send the header 'Authorization: Bearer <token>'.")
            else:
                answer = await route.handler(request, self)
        except (RequestTooLarge, BodyTooLarge) as exc:
            answer = _error(413, exc)
        except (ValidationError, DefinitionError) as exc:
            answer = _error(400, exc)
        except OnlineStoreError as exc:
            self.metrics.store_errors.inc()
            answer = _error(503, exc)
        except FeatureLayerError as exc:
            answer = _error(500, exc)
        except Exception as exc:  # (a bug of ours must not end the worker: log it, answer 500)
            log.exception("%s failed", route.name)
            answer = _error(500, f"internal error ({type(exc).__name__}); the server log has the details")
        await respond(send, answer)
        self.metrics.observe(route.name, answer.status, time.perf_counter() - start)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.serving = Serving.open(self.config)
                except FeatureLayerError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self._watcher = asyncio.create_task(self._watch())
                await self._warn_if_unsynced()
                if self.tune_gc:
                    _tune_gc()
                with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):  # (not the main thread)
                    loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher is not None:
                    self._watcher.cancel()
                with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signal.SIGHUP)
                if self.serving is not None:
                    await self.serving.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _warn_if_unsynced(self) -> None:
        with contextlib.suppress(FeatureLayerError):  # (a store down at start: /health says so)
            unsynced = await self.live.unsynced_views()
            if unsynced:
                log.warning(
                    "no sync has written %s to %s: every read of them answers NOT_FOUND until `featurelayer sync` "
                    "runs (or check --online-url)",
                    ", ".join(unsynced),
                    self.live.reader.description,
                )

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self._checked(self.live.reload("SIGHUP")))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _watch(self) -> None:
        """Reloads the registry when the manifest changes (a new dbt build), and swaps held views in once synced."""
        every = self.config.watch_seconds
        if every <= 0:
            return
        while True:
            await asyncio.sleep(every)
            await self._checked(self.live.check())

    async def _checked(self, check: Awaitable[Any]) -> None:
        """Runs a reload or a check; a failure is logged, never raised (the store may be down: next time).
        Either way, this worker's reload-failed gauge says how the registry stands."""
        try:
            await check
        except FeatureLayerError as exc:
            log.warning("registry check failed: %s", exc)
        except Exception:  # (the watcher must outlive a bug in one check)
            log.exception("registry check failed")
        self.metrics.reload_failed.set(1 if self.live.reload_error else 0)


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections in a worker process (about 5-8% more requests a second, measured).

    What start-up allocated (the registry, the libraries) is moved out of the
    collector's reach, and the youngest generation is collected after 10,000
    allocations instead of 700: a request allocates hundreds of short-lived
    objects, freed by reference counting, never in cycles.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def _authorized(request: Request, token: bytes) -> bool:
    scheme, _, given = (request.header(b"authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def create_app(config: ServeConfig | None = None) -> FeatureServer:
    """The feature server app for uvicorn (or any ASGI server)."""
    return FeatureServer(config or ServeConfig())


def app_from_env() -> FeatureServer:
    """The app of a worker process (uvicorn's factory): the settings ``featurelayer serve`` put in the environment.

    The process is the server's own, so its garbage collector is tuned for serving (``_tune_gc``).
    """
    return FeatureServer(ServeConfig.from_env(), tune_gc=True)
