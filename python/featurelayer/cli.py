"""The ``featurelayer`` command line.

Every command finds the project the same way the Python API does (``--project-dir``,
default: the working directory or a folder above it) and reports errors as one
readable message with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from ._dbt.project import Project, find_project
from ._errors import FeatureLayerError
from ._registry.registry import Registry
from ._registry.ttl import format_ttl
from ._registry.views import FeatureView
from ._transforms.definitions import SqlTransform

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly_errors(command: F) -> F:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FeatureLayerError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The featurelayer project (default: the working directory or a folder above it).",
)
@click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with profiles.yml (default: $DBT_PROFILES_DIR, then the project root).",
)
@click.option("--target", default=None, help="dbt target (default: the profile's default, e.g. duckdb).")
@click.pass_context
def main(ctx: click.Context, project_dir: Path | None, profiles_dir: Path | None, target: str | None) -> None:
    """featurelayer: a warehouse-native feature store on dbt."""
    ctx.obj = {"project_dir": project_dir, "profiles_dir": profiles_dir, "target": target}


def _project(ctx: click.Context) -> Project:
    return find_project(ctx.obj["project_dir"], ctx.obj["profiles_dir"], ctx.obj["target"])


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: entities and feature views.")
@click.pass_context
@_friendly_errors
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Entities, feature views and their features with types."""
    registry = Registry.from_project(_project(ctx))
    if as_json:
        document = {
            "project": registry.project_name,
            "adapter": registry.adapter_type,
            "entities": [
                {"name": e.name, "join_keys": list(e.join_keys), "description": e.description}
                for e in registry.entities.values()
            ],
            "feature_views": [v.to_dict() for v in registry.feature_views.values()],
            "feature_services": [
                {
                    "name": s.name,
                    "features": list(s.features),
                    "transforms": list(s.transforms),
                    "owner": s.owner,
                    "description": s.description,
                }
                for s in registry.feature_services.values()
            ],
            "transforms": [
                {
                    "name": name,
                    "kind": "sql" if isinstance(t, SqlTransform) else "python",
                    "outputs": {k: str(v) for k, v in t.output_types.items()},
                }
                for name, t in registry.transforms.items()
            ],
            "request_sources": [
                {"name": r.name, "fields": {k: str(v) for k, v in r.fields.items()}}
                for r in registry.request_sources.values()
            ],
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo("Entities:")
    for entity in registry.entities.values():
        click.echo(f"  {entity.name:<20} join keys: {', '.join(entity.join_keys)}")
    click.echo("\nFeature views:")
    for view in registry.feature_views.values():
        ttl = format_ttl(view.ttl_seconds)
        click.echo(f"  {view.name:<20} entities: {', '.join(e.name for e in view.entities)}  ttl: {ttl}")
        for feature in view.features:
            click.echo(f"    {view.name}:{feature.name:<30} {feature.arrow_type}")
    if registry.feature_services:
        click.echo("\nFeature services:")
        for service in registry.feature_services.values():
            click.echo(
                f"  {service.name:<20} {len(service.features)} feature reference(s), "
                f"transforms: {', '.join(service.transforms) or '-'}"
            )
    if registry.transforms:
        click.echo("\nTransforms:")
        for name, transform in registry.transforms.items():
            kind = "sql" if isinstance(transform, SqlTransform) else "python"
            outputs = ", ".join(f"{k} {v}" for k, v in transform.output_types.items())
            click.echo(f"  {name:<24} ({kind}) -> {outputs}")


@main.command()
@click.argument("view_name")
@click.pass_context
@_friendly_errors
def describe(ctx: click.Context, view_name: str) -> None:
    """Everything about one feature view or feature service."""
    registry = Registry.from_project(_project(ctx))
    if view_name in registry.feature_services and view_name not in registry.feature_views:
        service = registry.feature_services[view_name]
        click.echo(f"Feature service {service.name}")
        click.echo(f"  owner:        {service.owner or '-'}")
        if service.description:
            click.echo(f"  description:  {service.description}")
        click.echo("  features:     " + ", ".join(service.features))
        click.echo("  transforms:   " + (", ".join(service.transforms) or "-"))
        return
    click.echo(_describe(registry.feature_view(view_name)))


def _describe(view: FeatureView) -> str:
    lines = [
        f"Feature view {view.name}",
        f"  relation:           {view.relation}",
        f"  entities:           {', '.join(e.name for e in view.entities)} (join keys: {', '.join(view.join_keys)})",
        f"  timestamp:          {view.timestamp}",
        f"  created timestamp:  {view.created_timestamp or '-'}",
        f"  ttl:                {format_ttl(view.ttl_seconds)}",
        f"  owner:              {view.owner or '-'}",
        f"  tags:               {', '.join(view.tags) or '-'}",
    ]
    if view.description:
        lines.append(f"  description:        {view.description}")
    lines.append("  features:")
    width = max(len(f.name) for f in view.features)
    for feature in view.features:
        text = f"    {feature.name:<{width}}  {feature.data_type:<12} ({feature.arrow_type})"
        lines.append(f"{text}  {feature.description}".rstrip())
    return "\n".join(lines)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--select", "-s", "select", multiple=True, help="dbt selection (repeatable).")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@_friendly_errors
def build(ctx: click.Context, select: tuple[str, ...], dbt_args: tuple[str, ...]) -> None:
    """Runs `dbt build` (models and their tests) and shows dbt's result.

    Installs the project's dbt packages first when it has a packages.yml.
    Extra arguments after `--` go to dbt unchanged.
    """
    from ._dbt.runner import run_dbt

    project = _project(ctx)
    if (project.dbt_dir / "packages.yml").is_file() or (project.dbt_dir / "dependencies.yml").is_file():
        run_dbt(project, ["deps"], quiet=False)
    args = ["build"] + [a for s in select for a in ("--select", s)] + list(dbt_args)
    result = run_dbt(project, args, quiet=False, check=False)
    if not result.success:
        failed = "\n".join(f"  {uid}: {status}" for uid, status, _ in result.failures)
        raise click.ClickException(f"dbt build failed:\n{failed or '  (see dbt output above)'}")


@main.command()
@click.pass_context
@_friendly_errors
def parse(ctx: click.Context) -> None:
    """Runs `dbt parse` to refresh target/manifest.json without building anything."""
    from ._dbt.runner import run_dbt

    run_dbt(_project(ctx), ["parse"], quiet=False)
    click.echo("manifest written")


@main.command("example-data")
@click.option("--users", default=1_000, show_default=True, help="Number of users.")
@click.option("--days", default=90, show_default=True, help="Days of history.")
@click.option(
    "--end",
    "end",
    default=None,
    help="Last day of history, YYYY-MM-DD or 'today' (default: a fixed day, so data is reproducible).",
)
@click.option("--seed", default=7, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: <project>/data/raw, where the example's sources read).",
)
@click.pass_context
@_friendly_errors
def example_data(ctx: click.Context, users: int, days: int, end: str | None, seed: int, out: Path | None) -> None:
    """Writes the example's raw events (transactions, logins, profile changes) as Parquet.

    DuckDB reads the files in place. When the target is a PostgreSQL one
    (--target postgres), the rows are also loaded into schema $FEATURELAYER_RAW_SCHEMA
    (default raw) of its database.
    """
    import os

    from ._dbt.target import load_target
    from .example_data import generate_example_data, load_into_postgres

    project = _project(ctx)
    folder = out if out is not None else project.root / "data" / "raw"
    end_day = _parse_day(end)
    try:
        counts = generate_example_data(folder, users=users, days=days, seed=seed, end=end_day)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    summary = ", ".join(f"{n:,} {name}" for name, n in counts.items())
    click.echo(f"wrote {summary} to {folder}")
    target = load_target(project)
    if target.type == "postgres":
        schema = os.environ.get("FEATURELAYER_RAW_SCHEMA", "raw")
        connect = target.postgres_connect_args()
        load_into_postgres(folder, connect, schema=schema)
        click.echo(f"loaded them into {connect['dbname']}.{schema} (target {target.name})")


def _parse_day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    if value == "today":
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or 'today'", param_hint="--end") from None


def _duration(value: str) -> int:
    from ._registry.ttl import parse_ttl

    try:
        seconds = parse_ttl(value)
    except FeatureLayerError as exc:
        raise click.BadParameter(str(exc).replace("ttl", "interval"), param_hint="--every") from None
    assert seconds is not None
    return seconds


@main.command()
@click.option("--views", default=None, help="Comma-separated feature views (default: all).")
@click.option("--full", is_flag=True, help="Rewrite every current row and remove entities no longer valid.")
@click.option("--every", default=None, help="Run again at this interval (e.g. 5m, 1h) until SIGTERM/SIGINT.")
@click.option("--batch-rows", default=5_000, show_default=True, help="Rows per streamed batch and pipelined write.")
@click.option(
    "--online-url",
    default=None,
    help="Online store URL (default: $FEATURELAYER_REDIS_URL, the "
    "project's vars: feature_layer: online_store, else the embedded SQLite store).",
)
@click.pass_context
@_friendly_errors
def sync(
    ctx: click.Context, views: str | None, full: bool, every: str | None, batch_rows: int, online_url: str | None
) -> None:
    """Copies the rows valid now from the warehouse into the online store.

    Incremental by default (a watermark per view, on the time rows arrived);
    prints progress on a terminal and one summary line per run; exits non-zero
    on failure. With --every it runs until SIGTERM and stops cleanly between
    batches.
    """
    import signal
    import threading

    from ._online.base import redact
    from ._store import FeatureStore

    project = _project(ctx)
    store = FeatureStore(project.root, project.profiles_dir, project.target, online_url=online_url)
    names = [v.strip() for v in views.split(",") if v.strip()] if views else None
    interval = _duration(every) if every else None
    stop = threading.Event()
    if interval is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    tty = sys.stderr.isatty()

    def progress(view: str, rows: int) -> None:
        if tty:
            click.echo(f"\r  {view}: {rows:,} rows", nl=False, err=True)

    where = redact(store.online_url) if store.online_url else f"the embedded store {store.online_default_path}"
    click.echo(f"syncing into {where}", err=True)
    try:
        while True:
            try:
                report = store.sync(names, full=full, batch_rows=batch_rows, progress=progress, stop=stop)
            except FeatureLayerError as exc:
                if interval is None:
                    raise
                click.echo(f"\nsync failed, retrying in {interval} s: {exc}", err=True)
            else:
                if tty:
                    click.echo("\r" + " " * 60 + "\r", nl=False, err=True)
                click.echo(report.summary())
            if interval is None or stop.wait(interval):
                break
    finally:
        store.close()


@main.command()
@click.option("--sample", default=100, show_default=True, help="Entities per feature view.")
@click.option("--views", default=None, help="Comma-separated feature views (default: all).")
@click.option("--online-url", default=None, help="Online store URL (as for sync).")
@click.pass_context
@_friendly_errors
def verify(ctx: click.Context, sample: int, views: str | None, online_url: str | None) -> None:
    """Skew audit: online values against training retrieval at the same instant.

    Exits with code 1 when any value, type or presence differs.
    """
    from ._store import FeatureStore
    from ._verify import verify as run_verify

    project = _project(ctx)
    with FeatureStore(project.root, project.profiles_dir, project.target, online_url=online_url) as store:
        names = [v.strip() for v in views.split(",") if v.strip()] if views else None
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


@main.command()
@click.pass_context
@_friendly_errors
def demo(ctx: click.Context) -> None:
    """Shows the example's feature tables and a point-in-time lookup."""
    from ._demo import run_demo

    run_demo(_project(ctx), click.echo)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
