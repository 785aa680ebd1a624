"""``featurelayer serve``: the HTTP feature server (needs the ``serve`` extra)."""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
from pathlib import Path

import click

from .common import friendly_errors, project_of

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=6566, show_default=True, type=click.IntRange(0, 65535), help="Port (Feast's default).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256), help="Worker processes.")
@click.option("--online-url", default=None, help="Online store URL (default: as for `featurelayer sync`).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Require 'Authorization: Bearer <token>' with the token in this file (or in $FEATURELAYER_SERVE_TOKEN).",
)
@click.option(
    "--max-entities", default=1_000, show_default=True, type=click.IntRange(1), help="Entity rows per request."
)
@click.option("--max-body", default=1_048_576, show_default=True, type=click.IntRange(1), help="Request body bytes.")
@click.option(
    "--watch",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between manifest checks (0: off).",
)
@click.option(
    "--store-timeout", default=2.0, show_default=True, type=click.FloatRange(0.01), help="Online store timeout, s."
)
@click.option(
    "--as-of",
    default=None,
    help="Serve the rows valid at this instant (ISO 8601, UTC) instead of now: replays, shadow tests, benchmarks.",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
@click.pass_context
@friendly_errors
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int,
    online_url: str | None,
    token_file: Path | None,
    max_entities: int,
    max_body: int,
    watch: float,
    store_timeout: float,
    as_of: str | None,
    log_level: str,
) -> None:
    """Serves online features over HTTP, with Feast's JSON (docs/serving.md).

    POST /get-online-features, GET /health, GET /metrics (Prometheus). The
    registry reloads when target/manifest.json changes, or on SIGHUP; SIGTERM
    lets requests in flight finish. TLS belongs to the proxy in front.
    """
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException(
            "featurelayer serve needs the serve extra: pip install 'featurelayer[serve]'."
        ) from None
    from .._serve.config import ENV, ServeConfig
    from .._serve.serving import Serving

    project = project_of(ctx)
    config = ServeConfig(
        project_dir=str(project.root),
        profiles_dir=ctx.obj["profiles_dir"] and str(ctx.obj["profiles_dir"]),
        target=ctx.obj["target"],
        online_url=online_url,
        max_entities=max_entities,
        max_body_bytes=max_body,
        token_file=str(token_file) if token_file else None,
        watch_seconds=watch,
        store_timeout=store_timeout,
        as_of=as_of,
    )
    config.token()  # a missing or empty token file fails here, once, not in every worker
    # the checks a worker makes when it starts, made once here so that a bad project fails in one line
    asyncio.run(Serving.open(config).reader.close())
    os.environ[ENV] = config.to_env()
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # each worker's metrics in files that a scrape of any worker sums (prometheus_client's multiprocess mode)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="featurelayer-metrics-")
    # uvicorn's log setup, with featurelayer's own lines (reloads, failures) through its handler
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["featurelayer"] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    uvicorn.run(
        "featurelayer._serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        log_config=log_config,
        timeout_graceful_shutdown=30,
    )
