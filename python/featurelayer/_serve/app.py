"""The feature server's ASGI app (Starlette): routes, errors, authentication, lifespan.

Each route is one ``Route`` in ``ROUTES`` wrapped by ``_endpoint``, which
checks the bearer token, times the request for the metrics and turns every
error into a JSON answer: 400 for a request that cannot be served as sent
(the message names the problem), 401 without the token, 413 for a body or a
batch over the limits, 503 when the online store fails (one line, no
secret), 500 for anything else, logged. Nothing a client sends escapes as an
exception, so no request can take a worker down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._errors import DefinitionError, FeatureLayerError, OnlineStoreError, ValidationError
from .config import ServeConfig
from .feast_json import RequestTooLarge, parse_features_request, render_response
from .metrics import CONTENT_TYPE, Metrics
from .serving import Serving

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("featurelayer.serve")

Handler = Callable[[Request, "_Server"], Awaitable[Response]]


class _Server:
    """What the routes share in one worker; ``serving`` is set when the app starts."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.token = config.token()
        self.metrics = Metrics()
        self.serving: Serving | None = None

    @property
    def live(self) -> Serving:
        assert self.serving is not None, "the app's lifespan has not started"
        return self.serving


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, exc: BaseException | str) -> Response:
    kind = "Error" if isinstance(exc, str) else type(exc).__name__
    return _json(status, {"class": kind, "message": str(exc), "status": status})


def _endpoint(name: str, handler: Handler, server: _Server, *, auth: bool = True) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        start = time.perf_counter()
        try:
            if auth and server.token is not None and not _authorized(request, server.token):
                response = _error(
                    401, "Missing or wrong bearer token: send the header 'Authorization: Bearer <token>'."
                )
            else:
                response = await handler(request, server)
        except RequestTooLarge as exc:
            response = _error(413, exc)
        except (ValidationError, DefinitionError) as exc:
            response = _error(400, exc)
        except OnlineStoreError as exc:
            server.metrics.store_errors.inc()
            response = _error(503, exc)
        except FeatureLayerError as exc:
            response = _error(500, exc)
        except Exception as exc:
            log.exception("%s failed", name)
            response = _error(500, f"internal error ({type(exc).__name__}); the server log has the details")
        server.metrics.observe(name, response.status_code, time.perf_counter() - start)
        return response

    return run


def _authorized(request: Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ValidationError("The Content-Length header is not a number.")
        if int(declared) > limit:
            raise RequestTooLarge(f"The request body has {declared} bytes; this server takes at most {limit}.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The request body has more than {limit} bytes, the most this server takes.")
        chunks.append(chunk)
    return b"".join(chunks)


# --- routes ----------------------------------------------------------------------------------


async def get_online_features(request: Request, server: _Server) -> Response:
    body = await _body(request, server.config.max_body_bytes)
    parsed = parse_features_request(body, server.config.max_entities)
    serving = server.live
    response, join_keys = await serving.read(parsed)
    for view, events in _view_events(response, serving, parsed):
        newest = max(filter(None, events), default=None)
        if newest is not None:
            server.metrics.served(view, newest)
    return Response(render_response(response, join_keys), media_type="application/json")


def _view_events(response: Any, serving: Serving, parsed: Any) -> list[tuple[str, list[int | None]]]:
    """Each served view's event timestamps (one column per view is enough: they share rows)."""
    resolved, _ = serving.resolve(parsed.features, parsed.full_feature_names)
    seen: dict[str, list[int | None]] = {}
    for ref in resolved.refs:
        if ref.view.stored_name not in seen:
            events = response.event_micros(ref.output_name)
            if events is not None:
                seen[ref.view.stored_name] = events
    return list(seen.items())


async def health(request: Request, server: _Server) -> Response:
    serving = server.live
    try:
        await asyncio.wait_for(serving.reader.ping(), timeout=server.config.store_timeout)
    except (OnlineStoreError, TimeoutError) as exc:
        reason = str(exc) or f"the online store did not answer within {server.config.store_timeout} s"
        return _json(503, {"status": "unavailable", "reason": reason})
    body = {
        "status": "ok",
        "online_store": serving.reader.description,
        "feature_views": len(serving.registry.feature_views),
        "registry_loaded_at": serving.loaded_at,
        "reload_error": serving.reload_error,
        "held_views": sorted(serving.held),
    }
    return _json(200, body)


async def metrics(request: Request, server: _Server) -> Response:
    serving = server.live
    states = {}
    for name, view in serving.registry.feature_views.items():
        states[name] = await serving.reader.get_meta(serving.project_name, view.stored_name)
    server.metrics.reload_failed.set(1 if serving.reload_error else 0)
    return Response(server.metrics.exposition(states), media_type=CONTENT_TYPE)


#: (path, method, handler, name in the metrics, needs the token). A new endpoint is one more line.
ROUTES: list[tuple[str, str, Handler, str, bool]] = [
    ("/get-online-features", "POST", get_online_features, "get-online-features", True),
    ("/health", "GET", health, "health", False),
    ("/metrics", "GET", metrics, "metrics", True),
]


# --- the app ---------------------------------------------------------------------------------


def create_app(config: ServeConfig | None = None) -> Starlette:
    """The feature server app; it loads the project when it starts (the ASGI lifespan)."""
    server = _Server(config or ServeConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.serving = Serving.open(server.config)
        watcher = asyncio.create_task(_watch(server.live, server.config.watch_seconds))
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):  # (not the main thread: no signals)
            loop.add_signal_handler(
                signal.SIGHUP, lambda: asyncio.ensure_future(_guarded(server.live.reload("SIGHUP")))
            )
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
            await server.live.reader.close()

    routes = [
        Route(path, _endpoint(name, handler, server, auth=auth), methods=[method])
        for path, method, handler, name, auth in ROUTES
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _watch(serving: Serving, every: float) -> None:
    """Reloads the registry when the manifest changes (a new dbt build), and swaps held views in once synced."""
    if every <= 0:
        return
    while True:
        await asyncio.sleep(every)
        await _guarded(serving.check())


async def _guarded(check: Awaitable[Any]) -> None:
    """Runs a reload or a check; its failure is logged, never raised (the store may be down: next time)."""
    try:
        await check
    except FeatureLayerError as exc:
        log.warning("registry check failed: %s", exc)
    except Exception:
        log.exception("registry check failed")


def app_from_env() -> Starlette:
    """The app of a worker process (uvicorn's factory): the settings ``featurelayer serve`` put in the environment."""
    return create_app(ServeConfig.from_env())
