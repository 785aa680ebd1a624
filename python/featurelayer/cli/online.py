"""``featurelayer sync`` and ``verify``: filling the online store, and the skew audit."""

from __future__ import annotations

import sys

import click

from .._errors import FeatureLayerError
from .common import friendly_errors, project_of, view_names

__all__ = ["sync", "verify"]


def _duration(value: str) -> int:
    from .._registry.ttl import parse_ttl

    try:
        seconds = parse_ttl(value)
    except FeatureLayerError as exc:
        raise click.BadParameter(str(exc).replace("ttl", "interval"), param_hint="--every") from None
    assert seconds is not None
    return seconds


@click.command()
@click.option("--views", default=None, help="Comma-separated feature views (default: all).")
@click.option("--full", is_flag=True, help="Rewrite every entity's row and remove entities no longer in the warehouse.")
@click.option(
    "--allow-removals",
    is_flag=True,
    help="Let a full sync remove more than a view's max_removal_share (default 50%) of its online rows, "
    "or all of them when its table is empty.",
)
@click.option("--every", default=None, help="Run again at this interval (e.g. 5m, 1h) until SIGTERM/SIGINT.")
@click.option("--batch-rows", default=5_000, show_default=True, help="Rows per streamed batch and pipelined write.")
@click.option(
    "--online-url",
    default=None,
    help="Online store URL (default: $FEATURELAYER_REDIS_URL, the "
    "project's vars: feature_layer: online_store, else the embedded SQLite store).",
)
@click.pass_context
@friendly_errors
def sync(
    ctx: click.Context,
    views: str | None,
    full: bool,
    allow_removals: bool,
    every: str | None,
    batch_rows: int,
    online_url: str | None,
) -> None:
    """Copies each entity's latest rows from the warehouse into the online store.

    Incremental by default (a watermark per view, on the time rows arrived);
    prints progress on a terminal and one summary line per run; exits non-zero
    on failure. SIGTERM stops it cleanly between batches (exit code 1 for a
    one-off run; with --every it runs until SIGTERM and exits 0). A full sync
    that would remove more than a view's allowed share of its online rows
    removes none of them and exits with code 3, saying why (with --every it
    says so and goes on).
    """
    import signal
    import threading

    from .._errors import RemovalGuardError
    from .._online.base import redact
    from .._online.sync import SyncReport
    from .._store import FeatureStore

    project = project_of(ctx)
    store = FeatureStore(project.root, project.profiles_dir, project.target, online_url=online_url)
    names = view_names(views)
    interval = _duration(every) if every else None
    stop = threading.Event()
    # SIGTERM (cron's kill, a CronJob's deadline, systemd's stop) and Ctrl-C stop the sync cleanly
    # between batches, one run or many: nothing half-written, the watermark where it was
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    tty = sys.stderr.isatty()

    def progress(view: str, rows: int) -> None:
        if tty:
            click.echo(f"\r  {view}: {rows:,} rows", nl=False, err=True)

    refused = interrupted = False
    where = redact(store.online_url) if store.online_url else f"the embedded store {store.online_default_path}"
    click.echo(f"syncing into {where}", err=True)
    try:
        while True:
            try:
                report = store.sync(
                    names,
                    full=full,
                    batch_rows=batch_rows,
                    allow_removals=allow_removals,
                    progress=progress,
                    stop=stop,
                )
            except RemovalGuardError as exc:
                if tty:
                    click.echo("\r" + " " * 60 + "\r", nl=False, err=True)
                if isinstance(exc.report, SyncReport):
                    click.echo(exc.report.summary())
                click.echo(f"error: {exc}", err=True)
                refused = True
            except FeatureLayerError as exc:
                if interval is None:
                    raise
                click.echo(f"\nsync failed, retrying in {interval} s: {exc}", err=True)
            else:
                if tty:
                    click.echo("\r" + " " * 60 + "\r", nl=False, err=True)
                click.echo(report.summary())
                interrupted = report.interrupted
            if interval is None or stop.wait(interval):
                break
    finally:
        store.close()
    if refused and interval is None:
        ctx.exit(3)
    if interrupted and interval is None:
        ctx.exit(1)  # a one-off run stopped before it finished: the scheduler should see it


@click.command()
@click.option("--sample", default=100, show_default=True, help="Entities per feature view.")
@click.option("--views", default=None, help="Comma-separated feature views (default: all).")
@click.option("--online-url", default=None, help="Online store URL (as for sync).")
@click.pass_context
@friendly_errors
def verify(ctx: click.Context, sample: int, views: str | None, online_url: str | None) -> None:
    """Skew audit: online values against training retrieval at the same instant.

    Exits with code 1 when any value, type or presence differs.
    """
    from .._store import FeatureStore
    from .._verify import verify as run_verify

    project = project_of(ctx)
    with FeatureStore(project.root, project.profiles_dir, project.target, online_url=online_url) as store:
        names = view_names(views)
        report = run_verify(store, sample=sample, views=names)
    for mismatch in report.mismatches[:20]:
        click.echo(
            f"  {mismatch.view}:{mismatch.feature} {mismatch.entity}: online={mismatch.online!r} "
            f"offline={mismatch.offline!r} ({mismatch.detail})"
        )
    if len(report.mismatches) > 20:
        click.echo(f"  ... and {len(report.mismatches) - 20:,} more")
    click.echo(report.summary())
    if not report.ok:
        ctx.exit(1)
